"""The embedded sample: annotation files in each source's real format, media synthesised on demand."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from humansense.ids import digest, safe_join
from humansense.io import write_text_atomic

SYNTH_TIMEOUT_S = 300
_MARKER = ".materialized"


def annotation_root(source: str) -> Path:
    """The packaged folder of one source's sample annotation files (enough for `sources check`)."""
    return Path(str(resources.files("humansense.sample").joinpath(source)))


def _media_spec() -> list[dict]:
    return json.loads(resources.files("humansense.sample").joinpath("media.json").read_text(encoding="utf-8"))


# Output options: no random container ids (Matroska's SegmentUID) and no encoder versions, so that every machine
# synthesises the same bytes and a release built from the sample is reproducible byte for byte.
BITEXACT = ["-fflags", "+bitexact", "-flags", "+bitexact"]


def _synthesise(entry: dict, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Each file gets its own pattern offset and tone so that clips differ (and cached clips are not confused).
    variant = int(digest(entry["path"], length=4), 16)
    base = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    if entry["kind"] == "corrupt":
        dest.write_bytes(b"this is not a video file\n" * 64)
        return
    if entry["kind"] == "conversation":
        _conversation(entry, dest)
        return
    if entry["kind"] == "frames":
        dest.mkdir(parents=True, exist_ok=True)
        rate = 12
        src = f"testsrc2=size={entry['size']}:rate={rate},hue=h={variant % 360}"
        args = base + ["-f", "lavfi", "-i", src, "-frames:v", str(entry["count"]), "-start_number",
                       str(entry.get("start", 1)), str(dest / entry["pattern"])]
    else:
        pattern = entry.get("pattern", "testsrc2")  # testsrc2 draws a running clock: captioned videos use smptebars
        src = f"{pattern}=size={entry['size']}:rate={entry['fps']},hue=h={variant % 360}"
        for cap in entry.get("captions", []):  # on-screen captions, as The Skin Deep shows names and relations
            text = cap["text"].replace(":", r"\:").replace("'", "")
            src += (f",drawbox=y=ih-70:w=iw:h=60:color=black@0.8:t=fill:enable='between(t,{cap['start']},{cap['end']})'"
                    f",drawtext=fontfile={_font()}:text='{text}':fontcolor=white:fontsize=32:x=(w-text_w)/2:y=h-60"
                    f":enable='between(t,{cap['start']},{cap['end']})'")
        args = base + ["-f", "lavfi", "-i", src]
        if entry.get("speech"):  # a conversation spoken by two espeak-ng voices, for ASR and the rapport task
            args += ["-i", str(_speech(entry["speech"], dest.with_suffix(".speech.wav"))), "-af", "apad"]
        elif entry.get("audio"):
            args += ["-f", "lavfi", "-i", f"sine=frequency={220 + variant % 660}:sample_rate=44100"]
        args += ["-t", str(entry["duration"]), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                 "-g", str(int(entry["fps"]) * 2), "-threads", "1"]
        if entry.get("audio"):
            args += ["-c:a", "aac", "-shortest"]
        tmp = dest.with_name(f".{dest.stem}.tmp{dest.suffix}")
        subprocess.run(args + BITEXACT + [str(tmp)], check=True, timeout=SYNTH_TIMEOUT_S, capture_output=True)
        tmp.replace(dest)
        dest.with_suffix(".speech.wav").unlink(missing_ok=True)
        return
    subprocess.run(args, check=True, timeout=SYNTH_TIMEOUT_S, capture_output=True)


def _conversation(entry: dict, dest: Path) -> None:
    """A RealTalk-like recording: two faces side by side (p0 left, p1 right), the turns spoken by two espeak-ng
    voices, and the EMOCA file beside it whose jaw opening moves for whoever is speaking (`entry["emoca"]`)."""
    import pickle
    import wave

    import numpy as np

    fps, gap, lead = entry["fps"], entry.get("gap", 0.8), 0.5
    work = dest.with_name(f".{dest.stem}.parts")
    work.mkdir(parents=True, exist_ok=True)
    pieces, timeline, t, rate = [], [], lead, 22050
    for k, (person, voice, text) in enumerate(entry["turns"]):
        part = work / f"{k}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(part), text], check=True,
                       timeout=SYNTH_TIMEOUT_S, capture_output=True)
        with wave.open(str(part), "rb") as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        timeline.append((person, t, t + len(samples) / rate))
        pieces += [samples, np.zeros(int(gap * rate), np.int16)]
        t += len(samples) / rate + gap
    audio = np.concatenate([np.zeros(int(lead * rate), np.int16), *pieces])
    with wave.open(str(work / "talk.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate), w.writeframes(audio.tobytes())
    faces_image(work / "faces.png", entry.get("width", 640))
    duration = len(audio) / rate
    tmp = dest.with_name(f".{dest.stem}.tmp{dest.suffix}")
    codecs = entry.get("codecs", ["-c:v", "mpeg4", "-q:v", "5", "-c:a", "pcm_s16le"])
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-framerate", str(fps), "-i",
                    str(work / "faces.png"), "-i", str(work / "talk.wav"), "-t", f"{duration:.3f}", "-r", str(fps),
                    *codecs, "-shortest", *BITEXACT, str(tmp)], check=True, timeout=SYNTH_TIMEOUT_S, capture_output=True)
    tmp.replace(dest)
    frames = emoca_frames(timeline, int(duration * fps), fps)
    emoca = safe_join(dest.parents[1], entry["emoca"], "sample emoca path")
    emoca.parent.mkdir(parents=True, exist_ok=True)
    # A tampered file: a protocol-0 pickle that calls os.system when loaded by pickle.load (refused by the adapter).
    emoca.write_bytes(b"cos\nsystem\n(S'echo tampered'\ntR." if entry.get("emoca_tampered") else
                      pickle.dumps(frames, protocol=4))
    shutil.rmtree(work)


def faces_image(dest: Path, width: int) -> None:
    """Two faces side by side, p0 left and p1 right, `width` x `width / 2` (fer finds faces of 320 px, not 128)."""
    import numpy as np
    from PIL import Image
    from skimage import data  # scikit-image's sample photo: a real face that the emotion annotator can read

    face = data.astronaut()[:448, 32:480]  # 448 x 448 around the face
    canvas = np.concatenate([face, face[:, ::-1]], axis=1)
    Image.fromarray(canvas).resize((width, width // 2)).save(dest)


def emoca_frames(timeline: list[tuple[str, float, float]], frame_count: int, fps: float,
                 expression: bool = True) -> dict:
    """EMOCA parameters per frame and person for a `timeline` of (person, start s, end s) turns: a 6-value FLAME pose
    (global rotation, jaw rotation) in which the speaker's jaw opens and closes at syllable rate and the listener's
    stays nearly still, and 50 expression coefficients (left out with `expression=False`: the full-size generator
    keeps only what the adapter reads)."""
    import numpy as np

    now = np.arange(frame_count) / fps
    talking = {p: np.zeros(frame_count, bool) for p in ("p0", "p1")}
    for person, start, end in timeline:
        talking[person] |= (now >= start) & (now < end)
    still, moving = 0.01 + 0.002 * np.sin(now), 0.12 * np.abs(np.sin(2 * np.pi * 4 * now))
    jaw = {p: np.where(talking[p], moving, still) for p in talking}
    frames = {}
    for f in range(frame_count):
        frames[f] = {p: {"pose": np.array([0, 0, 0, jaw[p][f], 0, 0], np.float32)}
                     | ({"exp": np.zeros(50, np.float32)} if expression else {}) for p in talking}
    return frames


def _speech(lines: list[list[str]], wav: Path) -> Path:
    parts = []
    for k, (voice, text) in enumerate(lines):
        part = wav.with_name(f"{wav.stem}.{k}.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(part), text], check=True,
                       timeout=SYNTH_TIMEOUT_S, capture_output=True)
        parts.append(part)
    inputs = [a for p in parts for a in ("-i", str(p))]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs, "-filter_complex",
                    f"concat=n={len(parts)}:v=0:a=1", "-ar", "44100", str(wav)], check=True, timeout=SYNTH_TIMEOUT_S)
    for p in parts:
        p.unlink()
    return wav


def _font() -> str:
    import matplotlib  # a dependency that ships DejaVu Sans, so captions render the same on every machine

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def materialize(dest: Path, sources: list[str] | None = None) -> dict[str, Path]:
    """Copy the sample annotations under `dest/<source>/` and synthesise the media they reference.

    Done once per spec: a marker holding the spec's digest makes later calls free, so source fingerprints (and
    with them every cached clip) stay valid across rebuilds.
    """
    spec = _media_spec()
    roots: dict[str, Path] = {}
    every = sorted(p.name for p in Path(str(resources.files("humansense.sample"))).iterdir()
                   if p.is_dir() and not p.name.startswith(("_", ".")))
    for source in sources or every:
        root = Path(dest) / source
        entries = [e for e in spec if e["source"] == source]
        packaged = annotation_root(source)
        files = sorted(p for p in packaged.rglob("*") if p.is_file())
        want = digest(entries, [(p.name, p.read_bytes().hex()) for p in files])
        marker = root / _MARKER
        if not (marker.exists() and marker.read_text() == want):
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            for p in files:
                shutil.copy2(p, root / p.relative_to(packaged))
            for entry in entries:
                _synthesise(entry, safe_join(root, entry["path"], "sample media path"))
            write_text_atomic(marker, want)
        roots[source] = root
    return roots
