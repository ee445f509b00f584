"""A full-size source tree: every source in its published format (../shared/FORMATS.md) at the real record counts,
seeded, with cheap media, for the scale benchmarks (`bench/scale.py`) and the integrity checks at real sizes.

    .venv/bin/python bench/gen_sources.py --out /data/hs-full                 # the real sizes
    .venv/bin/python bench/gen_sources.py --out /data/hs-full2 --scale 2      # every source doubled
    .venv/bin/python bench/gen_sources.py --out /tmp/tiny --scale 0.002       # CI: a handful per source
    .venv/bin/python bench/gen_sources.py --out /data/hs-full --only realtalk skindeep   # rewrite two, keep the rest

Writes `<out>/<source>/...` and `<out>/sources.toml` (a config that reads them all). Counts at --scale 1:
CelebV-HQ 35,666 clips; AVA v2.2 val 64 movies (mmaction2's 15-minute cuts, keyframes at 1 Hz, 1-4 persons
each, 1-3 actions per person); Jester validation 14,787; ActivityNet Captions val_1 4,917; UCF-Crime's 290
annotated test videos (140 anomalous, 150 normal); TAO validation 988 videos; RealTalk 692 conversations; The Skin
Deep 400 downloaded videos; SEUMLD 60 subjects x 30 segments (our manifest); the five fraud CSVs (11,838 rows,
BOM, GBK, CRLF, 11 never-closed quotes); EFAQA 20,000 conversations.

Media are made cheaply: a few base files per source rendered by ffmpeg at low resolution and frame rate, then one
distinct file per record: a base's bytes plus a record-specific trailer that decoders ignore (an MP4 `free` box, an
AVI `JUNK` chunk, a JPEG comment), so every file has its own content hash, as real downloads do; the label-based
tasks ask about the labels, not the pictures. The annotated conversations (RealTalk, The Skin Deep) are each their
own: sentences that no recording repeats (four spoken phrases drawn without repetition, each phrase synthesised
once per espeak-ng voice), turns alternating between two LFW faces (from scikit-image, 24 pairs, expressions fer
reads differently), the pair's still video stream copied and only the sound encoded per record (~1.3 s each), and
RealTalk's EMOCA jaw poses following the turns; every other Skin Deep conversation is a quarrel (each sentence ends
on a reproach), the rest warm talks (each ends on affection), so RR has both classes to find. Texts from the Chinese sources come with a translation memory
(`translations.en.jsonl`), since the packaged LLM cannot translate Chinese.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FF = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
WORDS = ["man", "woman", "girl", "boy", "dog", "ball", "kitchen", "lake", "bike", "guitar", "street", "cake",
         "camera", "table", "rope", "horse", "field", "water", "crowd", "stage", "car", "window", "door", "beach"]
VERBS = ["walks", "jumps", "waves", "talks", "runs", "sits down", "picks up a cup", "throws a ball", "plays",
         "dances", "laughs", "points", "climbs", "cooks", "reads", "sings"]
HANZI = "我你他她们的是在有这个人说好想要知道时候觉得因为所以但是没有自己什么怎么工作学习家里朋友感情压力银行卡账户转账"


# Media ------------------------------------------------------------------------------------------------------------

def render(dest: Path, seconds: float, *, size: str = "96x54", fps: int = 5, audio: bool = False,
           pattern: str = "smptebars", hue: int = 0) -> Path:
    """A low-resolution lavfi video (optionally with a tone), MP4 with its index first; still bars at a high CRF
    keep a full-size tree to a few GB."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = FF + ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={fps},hue=h={hue}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency={220 + hue}:sample_rate=16000"]
    args += ["-t", f"{seconds:.2f}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "40", "-g", str(fps * 2),
             "-pix_fmt", "yuv420p", "-threads", "1"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "24k", "-shortest"]
    subprocess.run(args + ["-movflags", "+faststart", str(dest)], check=True, timeout=600)
    return dest


def distinct_copy(base: Path, dest: Path, tag: str) -> None:
    """`base`'s bytes plus a trailer naming `tag`, in a form its decoders skip."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    body, label = base.read_bytes(), tag.encode()
    if base.suffix == ".jpg":  # a COM segment right after SOI
        data = body[:2] + b"\xff\xfe" + struct.pack(">H", len(label) + 2) + label + body[2:]
    elif base.suffix == ".avi":  # a JUNK chunk after the RIFF list
        data = body + b"JUNK" + struct.pack("<I", len(label) + len(label) % 2) + label + b"\0" * (len(label) % 2)
    else:  # ISO BMFF: a top-level free box
        data = body + struct.pack(">I", len(label) + 8) + b"free" + label
    dest.write_bytes(data)


def frame_folder(dest: Path, templates: list[Path], count: int, tag: str, pattern: str = "{:05d}.jpg",
                 start: int = 1) -> None:
    """A folder of `count` numbered JPEGs: the first and last distinct copies, the rest hard links to templates."""
    dest.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        target = dest / pattern.format(start + k)
        template = templates[k % len(templates)]
        if k in (0, count - 1):
            distinct_copy(template, target, f"{tag}/{k}")
        elif not target.exists():
            os.link(template, target)


def jpeg_templates(folder: Path, n: int, size: str = "176x100") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(FF + ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=12", "-frames:v", str(n),
                         str(folder / "t%03d.jpg")], check=True, timeout=120)
    return sorted(folder.glob("t*.jpg"))


def hanzi(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(HANZI) for _ in range(rng.randint(lo, hi)))


def english_for(text: str) -> str:
    """A stand-in translation for a generated Chinese text (the memory's target): plain words, length alike."""
    rng = random.Random(text)
    words = [rng.choice(WORDS + ["money", "bank", "account", "please", "today", "call", "help", "feel", "work"])
             for _ in range(max(3, len(text) // 3))]
    return " ".join(words).capitalize() + "."


# Sources ----------------------------------------------------------------------------------------------------------

APPEARANCE = ("blurry male young chubby pale_skin rosy_cheeks oval_face receding_hairline bald bangs black_hair "
              "blonde_hair gray_hair brown_hair straight_hair wavy_hair long_hair arched_eyebrows bushy_eyebrows "
              "bags_under_eyes eyeglasses sunglasses narrow_eyes big_nose pointy_nose high_cheekbones big_lips "
              "double_chin no_beard 5_o_clock_shadow goatee mustache sideburns heavy_makeup wearing_earrings "
              "wearing_hat wearing_lipstick wearing_necklace wearing_necktie wearing_mask").split()
ACTIONS = ("blow chew close_eyes cough cry drink eat frown gaze glare head_wagging kiss laugh listen_to_music "
           "look_around make_a_face nod play_instrument read shake_head shout sigh sing sleep smile smoke sneer "
           "sneeze sniff talk turn weep whisper wink yawn").split()


def celebvhq(root: Path, n_clips: int, rng: random.Random) -> None:
    bases = [render(root / ".base" / f"b{k}.mp4", 24, size="128x128", hue=k * 40) for k in range(4)]
    clips, videos = {}, max(1, n_clips // 3)
    for v in range(videos):
        ytb = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(11))
        distinct_copy(bases[v % len(bases)], root / "raw" / f"{ytb}.mp4", ytb)
        for k in range(3 if v < videos - 1 else n_clips - 3 * (videos - 1)):
            start = rng.uniform(0, 16)
            emotion = rng.choices(["neutral", "happy", "sadness", "anger", "surprise", "disgust", "fear",
                                   "contempt"], [40, 25, 8, 6, 8, 5, 4, 4])[0]
            top, left = rng.uniform(0, 0.3), rng.uniform(0, 0.3)
            clips[f"{ytb}_{k}"] = {
                "ytb_id": ytb,
                "duration": {"start_sec": round(start, 2), "end_sec": round(start + rng.uniform(3, 7), 2)},
                "bbox": {"top": top, "bottom": top + 0.6, "left": left, "right": left + 0.6},
                "attributes": {"appearance": [int(rng.random() < 0.25) for _ in APPEARANCE],
                               "action": [int(rng.random() < 0.1) for _ in ACTIONS],
                               "emotion": {"sep_flag": False, "labels": emotion}},
                "version": "v0.1"}
    (root / "celebvhq_info.json").write_text(json.dumps(
        {"meta_info": {"appearance_mapping": list(APPEARANCE), "action_mapping": list(ACTIONS)}, "clips": clips}))


def ava(root: Path, movies: int, rng: random.Random) -> None:
    # The packaged sample's label map is the real one: all 80 actions with their ids and types.
    (root / "ava_action_list_v2.2.pbtxt").write_text(
        (ROOT / "humansense" / "sample" / "ava" / "ava_action_list_v2.2.pbtxt").read_text())
    bases = [render(root / ".base" / f"m{k}.mp4", 900, size="128x72", fps=2, hue=k * 60) for k in range(2)]
    rows, excluded = [], []
    pose = [11, 12, 12, 12, 14, 14, 11, 8, 10, 1, 3]  # stand/sit/walk dominate, as in the real files
    for m in range(movies):
        vid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(11))
        distinct_copy(bases[m % len(bases)], root / "trainval" / f"{vid}.mp4", vid)
        people = {p: (rng.uniform(0, 0.5), rng.uniform(0, 0.3)) for p in range(rng.randint(2, 6))}
        for t in range(902, 1799):
            if rng.random() < 0.01:
                excluded.append(f"{vid},{t:04d}")
                continue
            for p in rng.sample(sorted(people), rng.randint(1, min(4, len(people)))):
                x, y = people[p]
                actions = {rng.choice(pose)} | {rng.randint(15, 80) for _ in range(rng.randint(0, 2))}
                for a in sorted(actions):
                    rows.append(f"{vid},{t:04d},{x:.3f},{y:.3f},{x + 0.4:.3f},{y + 0.6:.3f},{a},{p}")
    (root / "ava_val_v2.2.csv").write_text("\n".join(rows) + "\n")
    (root / "ava_val_excluded_timestamps_v2.2.csv").write_text("\n".join(excluded) + "\n")


def jester(root: Path, n: int, rng: random.Random) -> None:
    labels = (ROOT / "humansense" / "sample" / "jester" / "jester-v1-labels.csv").read_text().split("\n")
    labels = [x.strip() for x in labels if x.strip()]
    (root / "jester-v1-labels.csv").write_text("\n".join(labels) + "\n")
    templates = jpeg_templates(root / ".base", 12)
    ids = rng.sample(range(1, 148093), n)
    (root / "jester-v1-validation.csv").write_text("".join(f"{i};{rng.choice(labels)}\n" for i in ids))
    for i in ids:
        frame_folder(root / "20bn-jester-v1" / str(i), templates, 12, f"jester/{i}")


def activitynet(root: Path, n: int, rng: random.Random) -> None:
    bases = {d: render(root / ".base" / f"d{d}.mp4", d, size="96x54", fps=2, hue=d) for d in (60, 120, 180)}
    data = {}
    for k in range(n):
        vid = "v_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                             for _ in range(11))
        duration = rng.uniform(30, 175)
        events, t = [], rng.uniform(0, 4)
        while len(events) < 6 and t < duration - 5:
            d = rng.uniform(4, 40)
            events.append(([round(t, 2), round(min(t + d, duration), 2)],
                           f"  The {rng.choice(WORDS)} {rng.choice(VERBS)} near the {rng.choice(WORDS)}."))
            t += d * rng.uniform(0.5, 1.0)
        data[vid] = {"duration": round(duration, 2), "timestamps": [e[0] for e in events],
                     "sentences": [e[1] for e in events]}
        base = next(b for d, b in sorted(bases.items()) if d >= duration)
        distinct_copy(base, root / "videos" / f"{vid}.mp4", vid)
    (root / "val_1.json").write_text(json.dumps(data))


UCF_TEST = {"Abuse": 2, "Arrest": 5, "Arson": 9, "Assault": 3, "Burglary": 13, "Explosion": 21, "Fighting": 5,
            "RoadAccidents": 23, "Robbery": 5, "Shooting": 23, "Shoplifting": 21, "Stealing": 5, "Vandalism": 5}


def ucf_crime(root: Path, scale: float, rng: random.Random) -> None:
    base = render(root / ".base" / "b.mp4", 120, size="96x54", fps=5, hue=90)
    lines = []
    counts = {c: max(1, round(n * scale)) for c, n in UCF_TEST.items()} | {"Normal": max(1, round(150 * scale))}
    for cls, count in counts.items():
        for k in range(1, count + 1):
            if cls == "Normal":
                name, folder = f"Normal_Videos_{k * 3:03d}_x264.mp4", "Testing_Normal_Videos_Anomaly"
                fields = "-1  -1  -1  -1"
            else:
                name, folder = f"{cls}{k:03d}_x264.mp4", f"Anomaly-Videos-Part-{1 + k % 4}/{cls}"
                s = rng.randint(30, 1500)
                fields = f"{s}  {s + rng.randint(60, 900)}  -1  -1"
            lines.append(f"{name}  {cls}  {fields}  ")
            distinct_copy(base, root / folder / name, name)
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(lines) + "\n")


def tao(root: Path, n: int, rng: random.Random) -> None:
    templates = jpeg_templates(root / ".base", 15, size="128x72")
    videos, images, tracks, annotations = [], [], [], []
    categories = [{"id": 805, "name": "person", "synset": "person.n.01", "synonyms": ["person"], "def": "a human",
                   "frequency": "f", "image_count": 1, "instance_count": 1},
                  {"id": 95, "name": "car", "synset": "car.n.01", "synonyms": ["car"], "def": "a car",
                   "frequency": "f", "image_count": 1, "instance_count": 1}]
    for v in range(1, n + 1):
        name = f"val/{rng.choice(['YFCC100M', 'Charades', 'HACS', 'LaSOT'])}/v_{v:08x}{rng.getrandbits(64):016x}"
        videos.append({"id": v, "name": name, "width": 640, "height": 480, "neg_category_ids": [],
                       "not_exhaustive_category_ids": [805] if rng.random() < 0.1 else [],
                       "metadata": {"dataset": name.split("/")[1]}})
        frames = rng.randint(60, 150)  # native-rate frames; annotated once a second (every 30th)
        frame_folder(root / "frames" / name, templates, frames, name, pattern="frame{:04d}.jpg", start=0)
        people = rng.choices(range(0, 8), [6, 30, 25, 15, 10, 6, 5, 3])[0]
        for p in range(people):
            tracks.append({"id": len(tracks) + 1, "category_id": 805, "video_id": v})
        for f in range(0, frames, 30):
            image_id = len(images) + 1
            images.append({"id": image_id, "video_id": v, "file_name": f"{name}/frame{f:04d}.jpg", "frame_index": f,
                           "width": 640, "height": 480, "license": 0, "video": name})
            for t in tracks[len(tracks) - people:]:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "track_id": t["id"],
                                    "category_id": 805, "bbox": [10, 10, 50, 120], "area": 6000.0, "iscrowd": 0,
                                    "video_id": v})
    (root / "validation.json").write_text(json.dumps({"info": {}, "licenses": ["Unknown"], "videos": videos,
                                                      "images": images, "tracks": tracks,
                                                      "annotations": annotations, "categories": categories}))


def seumld(root: Path, subjects: int, rng: random.Random) -> None:
    base = render(root / ".base" / "b.mp4", 620, size="96x54", fps=5, audio=True, hue=200)
    rows = ["clip_id,subject_id,video,start_s,end_s,label,transcript"]
    for s in range(1, subjects + 1):
        video = f"videos/subject{s:03d}.mp4"
        distinct_copy(base, root / video, video)
        for q in range(30):
            start = q * 20 + rng.uniform(0, 3)
            rows.append(f"s{s:03d}_q{q:02d},s{s:03d},{video},{start:.2f},{start + rng.uniform(8, 16):.2f},"
                        f"{rng.choice(['truth', 'lie'])},")
    (root / "seumld_manifest.csv").write_text("\n".join(rows) + "\n")


FRAUD = [("0", 7838), ("冒充公检法及政府机关类", 1000), ("贷款、代办信用卡类", 1000), ("冒充客服服务", 1000),
         ("冒充领导、熟人类", 1000)]


def telecom_fraud(root: Path, scale: float, rng: random.Random) -> None:
    root.mkdir(parents=True, exist_ok=True)
    memory = []
    for k, (label, count) in enumerate(FRAUD):
        rows = ["content,label"]
        for r in range(max(2, round(count * scale))):
            text = hanzi(rng, 12, 120) + rng.choice(["XXX", "PHONE", "DIGIT", ""])
            if k == 0 and r < max(1, round(11 * scale)):  # label00's never-closed quotes (the adapter reads them)
                rows.append(f'"{text},{label}')
                memory.append({"source": text, "target": english_for(text)})
                continue
            rows.append(f'"{text}，""引用""",{label}' if r % 50 == 0 else f"{text},{label}")
            memory.append({"source": text if r % 50 else f'{text}，"引用"', "target": english_for(text)})
        body = "\r\n".join(rows) + "\r\n"
        path = root / f"label0{k}-last.csv"
        path.write_bytes(body.encode("gbk") if k == 4 else b"\xef\xbb\xbf" + body.encode("utf-8"))
    (root / "translations.en.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in memory))


def efaqa(root: Path, n: int, rng: random.Random) -> None:
    """The corpus, and a translation memory holding every message and every post as the adapter reads it (the title
    less its gender mark): a post missing from the memory would go to the packaged LLM, which cannot translate
    Chinese, and refuse three conversations in four."""
    from humansense.sources.efaqa import Conversation, post_text

    root.mkdir(parents=True, exist_ok=True)
    memory = {}
    with gzip.open(root / "efaqa-corpus-zh.utf8.gz", "wt", encoding="utf-8") as f:
        for k in range(n):
            chats = []
            for turn in range(rng.randint(3, 12)):
                owner = turn % 2 == 1
                value = hanzi(rng, 4, 60)
                memory[value] = english_for(value)
                chat = {"time": "10:00:00", "sender": "owner" if owner else "audience", "type": "textMessage",
                        "value": value}
                if not owner:
                    chat["label"] = {"question": False, "knowledge": False, "negative": rng.random() < 0.05}
                chats.append(chat)
            title = "女 " + hanzi(rng, 6, 20)
            record = {"md5": f"{rng.getrandbits(128):032x}", "date": "2020-03-02 11:01:08", "owner": "匿名",
                      "title": title, "label": {"s1": f"1.{rng.randint(1, 19)}", "s2": "2.7", "s3": "3.6"},
                      "chats": chats}
            post = post_text(Conversation.model_validate(record))
            memory[post] = english_for(post)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (root / "translations.en.jsonl").write_text("".join(json.dumps({"source": s, "target": t}, ensure_ascii=False)
                                                        + "\n" for s, t in memory.items()))


# Conversations: each recording says its own lines. A sentence is four spoken phrases (who, did what, where, when),
# each synthesised once per voice, so 184,320 sentences per voice cost 84 espeak-ng runs, and no line repeats within
# a recording (TR asks only about utterances said once).
WHO = ["My brother", "Your sister", "The old neighbour", "Our teacher", "My best friend", "The little dog",
       "Your cousin", "The bus driver", "My grandmother", "The new manager", "Our landlord", "The baker", "My roommate",
       "Your uncle", "The mechanic", "Our coach", "The doctor", "My aunt", "The painter", "Your father", "The pilot",
       "My niece", "The gardener", "Our waiter"]
DID = ["cooked a huge dinner", "lost the car keys", "bought a red bicycle", "painted the kitchen",
       "fixed the broken window", "found a wallet", "planted tomatoes", "sold the piano", "wrote a long letter",
       "missed the train", "baked a lemon cake", "washed the blue van", "learned to swim", "broke a plate",
       "caught a big fish", "sang a funny song", "read the newspaper", "moved the sofa", "opened a bakery",
       "adopted a kitten", "climbed the hill", "cleaned the garage", "ordered a pizza", "visited the museum"]
WHERE = ["at the lake house", "near the station", "in the garden", "behind the school", "at the market",
         "by the river", "in the old barn", "at the beach", "on the rooftop", "in the city park", "at the hospital",
         "near the bridge", "in the library", "at the farm", "by the harbour", "in the kitchen", "at the stadium",
         "near the church", "in the basement", "at the airport"]
WHEN = ["last Tuesday", "this morning", "two weeks ago", "on Sunday night", "before breakfast", "after the storm",
        "in the summer", "yesterday evening", "at midnight", "during the holidays", "last winter", "on her birthday",
        "after lunch", "three days ago", "early on Friday", "in April"]
PHRASES = [WHO, DID, WHERE, WHEN]
# The Skin Deep's conversations each have a tone that every sentence ends on (RR asks whether a pair's rapport is
# harmonious or has challenges, so the tree holds both): a quarrel's reproaches or a warm talk's affection.
TONES = {
    "quarrel": ["and you never even asked me", "and you lied to me about it", "and I am sick of your excuses",
                "so stop blaming me for everything", "and that is why I am so angry with you",
                "and you never listen to me", "and I still cannot forgive you", "and you ruined it again",
                "and I hate it when you do that", "and you always take their side", "so do not tell me I am wrong",
                "and I am tired of fighting about it"],
    "warm": ["and we laughed about it all day", "and I loved every minute with you", "and you were so kind to help",
             "thank you for always being there", "and it was a lovely day together", "and I am so proud of you",
             "and you always make me smile", "and we hugged for ages", "and I feel so lucky to have you",
             "and you made it so much fun", "and I agree with you completely", "and we want the same things"],
}
FACE_PAIRS = 24  # pictures of two people; each recording is one of them with its own sound
VOICES = {"p0": "en-us", "p1": "en-gb"}
SPEECH_RATE = 22050  # espeak-ng's


def speech_phrases(dest: Path) -> Path:
    """Every phrase in both voices, silence trimmed, as one `.npz` (`<person>/<slot>/<index>` -> int16 samples)."""
    import wave

    import numpy as np

    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    texts = {f"{slot}/{k}": text for slot, phrases in enumerate(PHRASES) for k, text in enumerate(phrases)}
    texts |= {f"{tone}/{k}": text for tone, phrases in TONES.items() for k, text in enumerate(phrases)}
    for person, voice in VOICES.items():
        for key, text in texts.items():
            wav = dest.with_suffix(".wav")
            subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text], check=True, timeout=60)
            with wave.open(str(wav), "rb") as w:
                samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            loud = np.flatnonzero(np.abs(samples) > 300)
            arrays[f"{person}/{key}"] = samples[max(0, loud[0] - 400):loud[-1] + 400]
    np.savez(dest, **arrays)
    dest.with_suffix(".wav").unlink()
    return dest


def face_video(job: dict) -> None:
    """Two LFW faces (scikit-image's bundled subset: real faces whose expressions vary, so the ES task's listener
    expressions do) held still for `seconds` at 25 fps, 640 x 320, silent; recordings copy one's stream."""
    import numpy as np
    from PIL import Image
    from skimage import data

    dest = Path(job["dest"])
    faces = data.lfw_subset()[:100]  # 25 x 25 grey faces; the subset's second hundred are not faces
    canvas = np.full((320, 640), 128, np.uint8)
    for side, index in enumerate(job["faces"]):
        face = Image.fromarray((faces[index] * 255).astype(np.uint8)).resize((240, 240), Image.BICUBIC)
        canvas[40:280, 40 + 320 * side:280 + 320 * side] = np.asarray(face)
    png = dest.with_suffix(".png")
    Image.fromarray(canvas).convert("RGB").save(png)
    # One picture a second, repeated to 25 fps: the encoder's input is decoded once a second, not 25 times.
    subprocess.run(FF + ["-framerate", "1", "-loop", "1", "-i", str(png), "-t", f"{job['seconds']:.2f}", "-vf",
                         "fps=25", "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-crf", "28",
                         "-g", "500", "-pix_fmt", "yuv420p", "-threads", "1", str(dest)], check=True, timeout=1200)
    png.unlink()


_PHRASES: dict = {}


def conversation(job: dict) -> list[tuple[str, float, float, str]]:
    """One recording: turns of unique sentences alternating between the two voices over a face video's stream (copied,
    not encoded), its audio encoded; RealTalk's EMOCA file beside it, its jaws following the turns. Returns the turns
    (person, start s, end s, text)."""
    import pickle
    import wave

    import numpy as np

    from humansense.sample import emoca_frames

    if job["phrases"] not in _PHRASES:
        _PHRASES[job["phrases"]] = dict(np.load(job["phrases"]))
    phrases, rng = _PHRASES[job["phrases"]], random.Random(job["seed"])
    pause = np.zeros(int(0.08 * SPEECH_RATE), np.int16)
    parts, timeline, said, t = [np.zeros(int(0.5 * SPEECH_RATE), np.int16)], [], set(), 0.5
    person = rng.choice(["p0", "p1"])
    while t < job["seconds"]:
        line = tuple(rng.randrange(len(p)) for p in PHRASES)
        if line in said:
            continue
        said.add(line)
        keys = [f"{slot}/{k}" for slot, k in enumerate(line)]
        words = [p[k] for p, k in zip(PHRASES, line)]
        if job.get("tone"):
            ending = rng.randrange(len(TONES[job["tone"]]))
            keys.append(f"{job['tone']}/{ending}")
            words.append(TONES[job["tone"]][ending])
        speech = np.concatenate([a for key in keys for a in (phrases[f"{person}/{key}"], pause)])
        gap = rng.uniform(0.7, 1.1)
        timeline.append((person, t, t + len(speech) / SPEECH_RATE, " ".join(words)))
        parts += [speech, np.zeros(int(gap * SPEECH_RATE), np.int16)]
        t += len(speech) / SPEECH_RATE + gap
        person = "p1" if person == "p0" else "p0"
    audio = np.concatenate(parts)
    dest = Path(job["dest"])
    wav, tmp = dest.with_name(f".{dest.stem}.wav"), dest.with_name(f".{dest.stem}.tmp{dest.suffix}")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SPEECH_RATE), w.writeframes(audio.tobytes())
    codec = (["-c:a", "libmp3lame", "-b:a", "32k"] if dest.suffix == ".avi"
             else ["-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart"])
    subprocess.run(FF + ["-i", job["video"], "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy", *codec,
                         "-ac", "1", "-t", f"{len(audio) / SPEECH_RATE:.3f}", str(tmp)], check=True, timeout=600)
    tmp.replace(dest)
    wav.unlink()
    if job.get("emoca"):
        frames = emoca_frames([turn[:3] for turn in timeline], int(len(audio) / SPEECH_RATE * 25), 25,
                              expression=False)
        Path(job["emoca"]).write_bytes(pickle.dumps(frames, protocol=4))
    return timeline


def conversations(root: Path, n: int, seconds: float, rng: random.Random, *, kind: str, workers: int) -> None:
    """RealTalk (`videos/<id>.avi` + `emoca/<id>.pkl`) or The Skin Deep (`<id>.mp4` + `<id>.info.json`): one
    recording per record, each its own sentences, `workers` processes at once."""
    from concurrent.futures import ProcessPoolExecutor

    phrases = speech_phrases(root / ".base" / "phrases.npz")
    suffix = ".avi" if kind == "realtalk" else ".mp4"
    pictures = [{"dest": str(root / ".base" / f"faces{m}{suffix}"), "seconds": seconds + 12,
                 "faces": rng.sample(range(100), 2)} for m in range(min(FACE_PAIRS, n))]
    relations = [("Married", "6 years"), ("Best Friends", "12 years"), ("Siblings", "20 years"),
                 ("Dating", "2 months"), ("Cousins", "15 years")]
    jobs = []
    for k in range(n):
        vid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(11))
        job = {"phrases": str(phrases), "video": pictures[k % len(pictures)]["dest"], "seconds": seconds,
               "seed": f"{kind}/{vid}"}
        if kind == "realtalk":
            (root / "videos").mkdir(parents=True, exist_ok=True)
            (root / "emoca").mkdir(parents=True, exist_ok=True)
            jobs.append(job | {"dest": str(root / "videos" / f"{vid}.avi"), "emoca": str(root / "emoca" / f"{vid}.pkl")})
        else:
            jobs.append(job | {"dest": str(root / f"{vid}.mp4"), "tone": "quarrel" if k % 2 else "warm"})
            relation, length = relations[rng.randrange(len(relations))]
            (root / f"{vid}.info.json").write_text(json.dumps({
                "id": vid, "title": f"{{THE AND}} {relation} {length} - What We Never Say", "channel": "The Skin Deep",
                "description": f"{relation} for {length}.", "duration": seconds, "upload_date": "20190214",
                "webpage_url": f"https://www.youtube.com/watch?v={vid}", "_type": "video"}))
    if kind == "skindeep":  # the answer key, for benchmarks of RR (a real download has none; the adapter reads none)
        tones = {Path(j["dest"]).stem: j["tone"] for j in jobs}
        (root / ".base" / "tones.json").write_text(json.dumps(tones, indent=0, sort_keys=True))
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        run = pool.map if pool else map
        list(run(face_video, pictures))
        for done, _ in enumerate(run(conversation, jobs), start=1):
            if done % 100 == 0 or done == len(jobs):
                print(f"{kind}: {done}/{len(jobs)} recordings", file=sys.stderr, flush=True)


# Driver -----------------------------------------------------------------------------------------------------------

def generate(out: Path, scale: float, seed: int, conversation_s: float = 600.0,
             only: list[str] | None = None, workers: int = 1) -> dict[str, Path]:
    """Every source (or those in `only`, each seeded by its name, so a source rewritten alone is what a full run
    writes), then `sources.toml` naming every source folder under `out`."""
    def size(n: int) -> int:
        return max(2, round(n * scale))

    plan = {
        "celebvhq": lambda r, g: celebvhq(r, size(35666), g),
        "ava": lambda r, g: ava(r, size(64), g),
        "jester": lambda r, g: jester(r, size(14787), g),
        "activitynet": lambda r, g: activitynet(r, size(4917), g),
        "ucf_crime": lambda r, g: ucf_crime(r, scale, g),
        "tao": lambda r, g: tao(r, size(988), g),
        "seumld": lambda r, g: seumld(r, size(60), g),
        "telecom_fraud": lambda r, g: telecom_fraud(r, scale, g),
        "efaqa": lambda r, g: efaqa(r, size(20000), g),
        "realtalk": lambda r, g: conversations(r, size(692), conversation_s, g, kind="realtalk",
                                                  workers=workers),
        "skindeep": lambda r, g: conversations(r, size(400), min(conversation_s, 160.0), g, kind="skindeep",
                                                  workers=workers),
    }
    for name, make in plan.items():
        if only is None or name in only:
            root = out / name
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            make(root, random.Random(f"{seed}-{name}"))
    roots = {name: out / name for name in plan if (out / name).is_dir()}
    lines = [f"seed = {seed}"]
    for name, root in roots.items():
        lines += [f"[sources.{name}]", f'root = "{root}"'] + (['layout = "cut_900_1800"'] if name == "ava" else [])
    (out / "sources.toml").write_text("\n".join(lines) + "\n")
    return roots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--conversation-s", type=float, default=600.0, help="length of RealTalk conversations")
    ap.add_argument("--only", nargs="+", default=None, help="write only these sources (the others are kept)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes rendering conversations")
    args = ap.parse_args()
    roots = generate(args.out, args.scale, args.seed, args.conversation_s, args.only, args.workers)
    print(json.dumps({k: str(v) for k, v in roots.items()}, indent=1))


if __name__ == "__main__":
    main()
