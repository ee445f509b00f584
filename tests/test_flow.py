"""The build-humansense flow end to end on the embedded sample, and its cache across runs."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from humansense.media import probe
from humansense.release.score import load_items
from humansense.io import read_jsonl
from humansense.release.shards import release_schema
from humansense.schema import ItemDraft

from conftest import only_sources, sample_config

pytestmark = pytest.mark.slow
ALL_TASKS = ["PA", "AR", "GR", "ER", "CM", "AC", "HC", "TR", "FR", "RR", "RG", "LD", "FG", "ES", "PC"]
# What selection keeps of the sample: eval is exactly half of each task (rounded up), items of a group never overlap
# in time (TR/ES clips of one conversation do), and drafts of eval groups beyond the target are left out.
# TR: one per sample conversation, its spans not overlapping (a second, overlapping one could never be selected with
# the first, yet counted toward the task's size); ES takes both conversations into eval, so TR's eval is one.
# HC: the video with nobody in it is refused (`no person to count`); CM: one "which description" item in eval
# cannot draw its wrong options from the two videos released in train (their texts are known answers there).
SAMPLE_COUNTS = {"PA": 3, "AR": 3, "GR": 5, "ER": 2, "CM": 3, "AC": 4, "HC": 2, "TR": 1, "FR": 3, "RR": 2, "RG": 3,
                 "LD": 5, "FG": 7, "ES": 3, "PC": 4}
SAMPLE_CLIPS = 48  # cut for the selected drafts only (59 before selection came first; 49 before HC left out nobody)
EXPECTED = {  # (task, source record) -> answer text, straight from the sample's annotation files
    ("ER", "aB3dE5fG7hI_0"): ["Happy"], ("ER", "aB3dE5fG7hI_1"): ["Sad"], ("ER", "_x9Kq2Lm0Zp_3"): ["Surprise"],
    ("ER", "aB3dE5fG7hI_3"): ["Anger"], ("GR", "34870"): ["Drumming Fingers"], ("GR", "1202"): ["Swiping Left"],
    ("AC", "Arrest003_x264.mp4"): ["Arrest"], ("AC", "Normal_Videos_017_x264.mp4"): ["Nothing abnormal"],
    ("HC", "val/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e"): ["3"], ("HC", "val/Charades/3F2ZV"): ["1"],
}


def latest_parse_outputs(out: Path, source: str = "*") -> list[Path]:
    """Each source's newest parse output (outputs are stored per key: `parsed/<source>/<key>/drafts.jsonl`)."""
    newest: dict[str, Path] = {}
    for f in sorted((out / "cache" / "work" / "parsed").glob(f"{source}/*/drafts.jsonl"), key=lambda p: p.stat().st_mtime):
        newest[f.parent.parent.name] = f
    return list(newest.values())


def test_build_makes_items_for_all_fifteen_tasks(sample_build):
    out, first, _, _ = sample_build
    release = out / "release"
    items = load_items(release)
    for shard in release.glob("data/*/*.parquet"):  # the item's fields, media as Audio/Video features
        assert pq.read_schema(shard).equals(release_schema())
    assert {i.task for i in items} == set(ALL_TASKS)
    assert first["items_per_task"] == SAMPLE_COUNTS
    drafts = {(d.task, d.provenance.record_id): d for f in latest_parse_outputs(out)
              for d in read_jsonl(f, ItemDraft)}
    for key, answer in EXPECTED.items():
        assert drafts[key].answers == answer, key
    for item in items:  # whatever selection kept, its answer is its record's
        assert sorted(item.answer_texts()) == sorted(drafts[(item.task, item.provenance.record_id)].answers)
    for item in items:
        info = probe(release / item.media.path)  # every item points at a clip ffprobe reads
        audio = item.task in ("FG", "PC")
        assert info.has_video != audio and info.duration_s == pytest.approx(item.media.duration_s, abs=0.05)
        assert item.media.path.startswith("data/audios/" if audio else "data/videos/")
        truth = item.annotations
        if item.task == "PA":
            present = {a.replace("_", " ") for a in truth["appearance_present"]}
            assert {t.lower() for t in item.answer_texts()} <= present
        if item.task == "AR":
            assert set(item.answer_texts()) <= set(truth["actions"])
        if item.task == "CM":
            assert item.answer_texts()[0].startswith(truth["events"][0]["sentence"].rstrip("."))


def test_annotated_tasks_come_from_the_real_engines_with_their_evidence(sample_build):
    """TR from faster-whisper segments + EMOCA jaw motion, ES from fer on the listener's half, FG/PC spoken by Piper,
    RR from reviewed scores, LD from our manifest: exact answers, evidence on every L3/L4 item."""
    out, _, _, _ = sample_build
    items = load_items(out / "release")
    tr = {i.annotations["utterance"].rstrip("."): i.answer_texts()[0] for i in items if i.task == "TR"}
    tr_drafts = {d.annotations["utterance"].rstrip("."): d.answers[0]
                 for f in latest_parse_outputs(out, "realtalk") for d in read_jsonl(f, ItemDraft)
                 if d.task == "TR"}
    said = {
        "So how was your first week at the new job?": "The person on the left",
        "Honestly it was much better than I expected": "The person on the right",
        "That is great news, I was worried about you": "The person on the left",
        "Do you remember the summer we spent at the lake?": "The person on the right",
        "Of course, we went swimming every single morning": "The person on the left",
        "I still have the photos from that trip somewhere": "The person on the right"}
    # One draft per conversation: TR clips reach 40 s before and 20 s after the utterance, so in these short
    # conversations any two overlap and only one could ever be selected. ES takes both conversations into eval.
    assert len(tr_drafts) == 2 and tr_drafts.items() <= said.items()
    assert len(tr) == 1 and tr.items() <= tr_drafts.items()
    es = [i for i in items if i.task == "ES"]
    assert {i.answer_texts()[0] for i in es} == {"Happy"}  # both faces are the same smiling photo
    assert all(i.annotations["listener_expression"]["distribution"]["happy"] > 0.9 for i in es)
    by_record = {(i.task, i.provenance.record_id): i for i in items}
    assert by_record[("LD", "s01_q02")].answer_texts() == ["Yes"]
    assert by_record[("RR", "Qw3Er5Ty7Ui")].answer_texts() == ["With challenges"]
    assert by_record[("RR", "Ab3dEf9hIjK")].annotations["llm"]["model"] == "review: hand (humansense sample)"
    fg = [i for i in items if i.task == "FG"]
    assert {i.annotations["label"] for i in fg} == {"0", "冒充公检法及政府机关类", "贷款、代办信用卡类", "冒充客服服务",
                                                  "冒充领导、熟人类"}
    assert all(i.media.path.endswith(".wav") and i.annotations["phone_band"] for i in fg)
    pc = by_record[("PC", "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d")]
    assert pc.answer_texts()[0].startswith("Wanting to win her back is understandable.")
    assert [t["speaker"] for t in pc.annotations["spoken_turns"]] == [0, 1, 0, 1, 0]
    evidence_key = {"TR": "jaw_activity", "ES": "listener_expression", "FR": "evidence", "RG": "evidence",
                    "RR": "rapport", "LD": "label", "FG": "text_en", "PC": "spoken_turns"}
    for item in items:
        if item.task in evidence_key:
            assert item.annotations[evidence_key[item.task]], (item.task, item.id)
        if item.task in ("FG", "PC"):  # their source texts may not be published verbatim: our English only
            assert not [k for k in item.annotations if k.endswith("_zh")], (item.task, item.id)
    aqa = json.loads((out / "release" / "data" / "HumanSense_AQA.json").read_text())
    assert aqa and {r["questions"]["task_type"] for r in aqa} <= {"Fraud_Recognition", "Psychological_Chat"}
    assert all("fps" not in r["questions"] and r["video_path"].startswith("data/audios/") for r in aqa)


def test_bad_records_are_quarantined_with_reasons_and_the_build_goes_on(sample_build):
    out, first, _, _ = sample_build
    entries = [json.loads(line) for line in (out / "release" / "quarantine.jsonl").read_text().splitlines()]
    seen = {(q["stage"], q["reason"], q.get("record_id")) for q in entries}
    assert ("media", "missing media", "Zz9Yy8Xx7Ww_0") in seen  # the video was never downloaded
    assert ("media", "missing media", "1207") in seen  # no Jester frame folder
    assert ("media", "unreadable media", "Explosion008_x264.mp4") in seen  # a corrupt file
    assert ("parse", "unknown label", "1205") in seen and ("parse", "unsafe id", None) in seen
    assert ("parse", "malformed annotation", "Tt4Yy5Uu6Ii") in seen  # a tampered EMOCA pickle, never run
    assert ("parse", "no person to count", "val/YFCC100M/v_0a1b2c3d4e5f60718293a4b5c6d7e8f9") in seen  # HC: nobody
    reasons = {q["reason"] for q in entries}
    assert {"duplicate text", "context too short", "no speaker evidence", "segment too short"} <= reasons
    assert "untranslated" not in reasons  # the sample's texts all come from its translation memory
    assert first["quarantined"] == len(entries) == 45
    assert all(q["detail"] for q in entries)


def test_the_authors_asr_mode_finds_our_transcripts(sample_build):
    """`asr_en` on every TR, FR, RR, RG, ES question: the build's own ASR of the clip's span."""
    out = sample_build[0]
    vqa = json.loads((out / "release" / "data" / "HumanSense_VQA.json").read_text())
    conversational = [r["questions"] for r in vqa if r["questions"]["task_type"] in {
        "Talkingperson_Recognition", "Familiarity_Recognition", "Rapport_Recognition", "Relation_Recognition",
        "Emo_Strategy"}]
    assert conversational and all("asr_en" in q for q in conversational)
    tr = [q for q in conversational if q["task_type"] == "Talkingperson_Recognition"]
    assert all(q["question"] and q["asr_en"] for q in tr)  # a TR clip holds its utterance and the context around
    items = {i.id: i for i in load_items(out / "release") if i.task == "ES"}
    assert all(i.annotations["asr_en"].rstrip(".").lower() == i.annotations["utterance"].rstrip(".").lower()
               for i in items.values())  # an ES clip is the speaker's segment: its transcript is that segment


def test_second_build_reuses_every_cached_task(sample_build):
    out, first, second, items_first = sample_build
    assert first["media_tasks"]["cached"] == 0 and first["media_tasks"]["clips_cut"] == SAMPLE_CLIPS
    assert second["media_tasks"]["total"] == first["media_tasks"]["total"] > 1
    assert second["media_tasks"]["cached"] == second["media_tasks"]["total"]  # nothing was cut again
    assert first["annotation_tasks"] == {"total": 4, "cached": 0}
    assert second["annotation_tasks"] == {"total": 4, "cached": 4}  # no media decoded again to annotate
    keyed_stages = ["select", "plan media", "augment", "audit"]
    assert first["stage_runs"] == dict.fromkeys(keyed_stages, "ran")
    assert second["stage_runs"] == dict.fromkeys(keyed_stages, "cached")  # keyed by their inputs: nothing redone
    assert first["answer_letters"]["pinned_by_ledger"] == 0  # the ledger: answer places of the previous build
    assert second["answer_letters"]["pinned_by_ledger"] == second["items"] and second["answer_letters"]["new"] == 0
    assert set(first["answer_letters"]["spread"].values()) <= {0, 1}
    assert second["media_tasks"]["clips_cut"] == 0 and second["media_tasks"]["clips_reused"] == SAMPLE_CLIPS
    assert sorted((p.relative_to(out).as_posix(), p.read_bytes())
                  for p in (out / "release" / "data").glob("*/*.parquet")) == items_first  # the same bytes out
    assert not [p for p in out.iterdir() if p.name.startswith(".release")]  # no temp or old release left


def test_lost_clips_are_cut_again_rather_than_trusted(prefect_harness, sample_roots, tmp_path):
    from humansense.flows.build import build_humansense

    config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml")
    text = config.read_text() + only_sources("jester")
    config.write_text(text)
    build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    for clip in (tmp_path / "b" / "cache" / "clips").iterdir():
        clip.unlink()
    report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    assert report["media_tasks"]["cached"] == 0 and report["media_tasks"]["clips_cut"] == 5
    assert report["items_per_task"]["GR"] == 5


def test_keyed_stages_redo_exactly_what_changed_below_them(prefect_harness, sample_roots, tmp_path):
    """Select, plan media, augment and audit are keyed by their inputs: a lost output is made again, a media file
    touched re-plans (and cuts nothing: its content is the same), a lost ledger re-augments; the items stay the
    same bytes throughout."""
    import os
    import shutil

    from humansense.flows.build import build_humansense

    root = tmp_path / "jester"
    shutil.copytree(sample_roots["jester"], root)
    config = sample_config({"jester": root}, tmp_path / "c.toml", only_sources("jester"))
    out = tmp_path / "b"

    def build() -> tuple[dict, dict[str, bytes]]:
        report = build_humansense(out=str(out), config_file=str(config))
        return report, {p.name: p.read_bytes() for p in (out / "release" / "data").glob("*/*.parquet")}

    first, items = build()
    assert set(first["stage_runs"].values()) == {"ran"}
    for augmented in (out / "cache" / "work" / "augment").iterdir():
        shutil.rmtree(augmented)
    report, again = build()
    assert report["stage_runs"] == {"select": "cached", "plan media": "cached", "augment": "ran", "audit": "cached"}
    assert again == items
    video = Path(json.loads(next((out / "cache" / "work" / "select").glob("*/media.json")).read_text())[0])
    assert video.is_relative_to(root)  # a selected Jester video (a folder of frames)
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    report, again = build()
    assert report["stage_runs"] == {"select": "cached", "plan media": "ran", "augment": "ran", "audit": "ran"}
    assert report["media_tasks"]["clips_cut"] == 0 and again == items
    (out / "ledger" / "answer_positions.json").unlink()
    report, again = build()
    assert report["stage_runs"] == {"select": "cached", "plan media": "cached", "augment": "ran", "audit": "cached"}
    assert report["answer_letters"]["new"] == report["items"] and again == items
    report, again = build()
    assert set(report["stage_runs"].values()) == {"cached"} and again == items
    assert report["answer_letters"]["pinned_by_ledger"] == report["items"]


def test_readme_build_command_runs_on_the_embedded_sample(tmp_path):
    """`humansense build` as a user types it: a fresh process, its own temporary Prefect server, the sample."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    run = subprocess.run([sys.executable, "-m", "humansense.cli", "build", "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "media tasks: 0 of" in run.stderr and "Quarantined records: 45" in run.stderr
    # A quiet terminal: the stages and the summary; engine and Prefect output only in the build's log.
    terminal = run.stdout + run.stderr
    assert "cut clips done in" in terminal and "temporary local server" in terminal
    assert "skindeep: annotate round 1," in terminal and "skindeep: drafts FR" in terminal  # how far annotation is
    assert not any(word in terminal.lower() for word in ("warning", "tensorflow", "paddle", "traceback", "| info"))
    log = (tmp_path / "b" / "logs" / "build.log").read_text()
    assert "UserWarning" in log and "Starting temporary server" in log
    report = json.loads((tmp_path / "b" / "release" / "build_report.json").read_text())
    assert report["items_per_task"] == SAMPLE_COUNTS
    assert sorted(report["sample_sources"]) == ["activitynet", "ava", "celebvhq", "efaqa", "jester", "realtalk",
                                                "seumld", "skindeep", "tao", "telecom_fraud", "ucf_crime"]
    card = (tmp_path / "b" / "release" / "README.md").read_text()
    assert "**Not real data.** Built from the embedded synthetic sample for: activitynet, ava" in card


def test_bias_audit_with_a_text_only_llm_and_its_account_in_the_report(prefect_harness, sample_roots, tmp_path):
    from fakellm import FakeLLM

    from humansense.flows.build import build_humansense

    with FakeLLM({"answer": "B"}) as fake:
        extra = ("[augment]\naudit_with_llm = true\n[annotators.llm]\n"
                 f'base_url = "{fake.url}"\nmodel = "fake"\n'
                 + only_sources("jester"))
        config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml", extra)
        report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    eval_gr = sum(i.task == "GR" and i.split != "train" for i in load_items(tmp_path / "b" / "release"))
    assert report["llm_account"]["requests"] == eval_gr == len(fake.requests) > 0  # the audit scores eval
    audit_rows = (tmp_path / "b" / "release" / "audit" / "bias_audit.csv").read_text()
    assert "GR,text-only LLM," in audit_rows


def test_one_changed_record_cuts_only_its_own_clip_again(prefect_harness, sample_roots, tmp_path):
    """A span edited in one UCF-Crime row: the rebuild cuts that one clip, reuses every other, and the item moves."""
    import shutil

    from humansense.flows.build import build_humansense

    root = tmp_path / "ucf"
    shutil.copytree(sample_roots["ucf_crime"], root)
    config = sample_config({"ucf_crime": root}, tmp_path / "c.toml")
    config.write_text(config.read_text() + only_sources("ucf_crime"))
    first = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    notes = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    text = notes.read_text()
    assert "Arrest003_x264.mp4  Arrest  120  360" in text
    notes.write_text(text.replace("Arrest003_x264.mp4  Arrest  120  360", "Arrest003_x264.mp4  Arrest  150  360"))
    second = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    assert first["media_tasks"]["clips_cut"] == first["items"] > 1
    assert second["media_tasks"]["clips_cut"] == 1
    assert second["media_tasks"]["clips_reused"] == first["media_tasks"]["clips_cut"] - 1
    assert second["media_tasks"]["clips_failed"] == first["media_tasks"]["clips_failed"] == 1  # the corrupt video
    assert second["items_per_task"] == first["items_per_task"]
    arrest = next(i for i in load_items(tmp_path / "b" / "release") if i.provenance.record_id == "Arrest003_x264.mp4")
    assert arrest.provenance.start_s == pytest.approx(150 / 30 - 2.0)  # the new span, with its 2 s of context


def test_byte_identical_media_under_two_records_are_refused_not_a_crash(prefect_harness, sample_roots, tmp_path):
    """A Jester video downloaded twice under two ids: the second is quarantined naming both; the build completes."""
    import shutil

    from humansense.flows.build import build_humansense

    root = tmp_path / "jester"
    shutil.copytree(sample_roots["jester"], root)
    shutil.copytree(root / "20bn-jester-v1" / "34870", root / "20bn-jester-v1" / "99999")
    labels = root / "jester-v1-validation.csv"
    labels.write_text(labels.read_text() + "99999;Drumming Fingers\n")
    config = sample_config({"jester": root}, tmp_path / "c.toml")
    config.write_text(config.read_text() + only_sources("jester"))
    report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    entries = [json.loads(line) for line in (tmp_path / "b" / "release" / "quarantine.jsonl").read_text().splitlines()]
    duplicate = [q for q in entries if q["reason"] == "duplicate media"]
    assert len(duplicate) == 1 and {"34870", "99999"} <= set(duplicate[0]["detail"].replace("(", " ").split())
    assert report["items_per_task"]["GR"] == 5  # the five distinct videos, nothing lost, nothing crashed


class _Planted:
    """Unpickling this creates a file: the proof that a planted cache file ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_in_the_cache_is_refused_not_run(prefect_harness, sample_roots, tmp_path):
    from prefect.serializers import PickleSerializer

    from humansense.flows.build import build_humansense

    config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml", only_sources("jester"))
    out = tmp_path / "b"
    build_humansense(out=str(out), config_file=str(config))
    keys = sorted((out / "cache" / "prefect-keys").glob("parse-jester-*"))
    assert keys and '"type":"json"' in keys[0].read_text().replace(" ", "")  # results are stored as JSON
    marker = tmp_path / "planted-code-ran"
    meta = json.loads(keys[0].read_text())
    meta["serializer"] = {"type": "pickle", "picklelib": "pickle"}
    keys[0].write_text(json.dumps(meta))
    payload = PickleSerializer(picklelib="pickle").dumps(_Planted(marker))
    Path(meta["storage_key"]).write_text(json.dumps({"metadata": meta, "result": payload.decode()}))
    report = build_humansense(out=str(out), config_file=str(config))
    assert not marker.exists()
    assert (out / "cache" / "refused" / "prefect-keys" / keys[0].name).exists()
    assert report["items_per_task"]["GR"] == SAMPLE_COUNTS["GR"]


def test_an_edit_undone_gives_the_first_release_back_byte_for_byte(prefect_harness, sample_roots, tmp_path):
    """Edit one Jester label, rebuild, restore the file, rebuild: the parse output is a value per key, so the third
    build reuses the first one's (cached) and publishes exactly the first release's items."""
    import shutil

    from humansense.flows.build import build_humansense

    root = tmp_path / "jester"
    shutil.copytree(sample_roots["jester"], root)
    config = sample_config({"jester": root}, tmp_path / "c.toml", only_sources("jester"))
    out = tmp_path / "b"
    labels = root / "jester-v1-validation.csv"
    original = labels.read_text()

    def shards() -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "release" / "data").glob("*/*.parquet")}

    build_humansense(out=str(out), config_file=str(config))
    first = shards()
    labels.write_text(original.replace("34870;Drumming Fingers", "34870;Thumb Up"))
    build_humansense(out=str(out), config_file=str(config))
    assert shards() != first
    labels.write_text(original)
    report = build_humansense(out=str(out), config_file=str(config))
    assert shards() == first
    assert report["sources"]["jester"]["annotation_files"]["jester-v1-validation.csv"] == \
        __import__("hashlib").sha256(original.encode()).hexdigest()


def test_secrets_in_the_environment_appear_in_no_file_the_build_writes(prefect_harness, sample_roots, tmp_path,
                                                                       monkeypatch):
    """A recognisable Hub token and LLM key in the environment: every file under the build folder (logs, caches,
    Prefect results, the release and its Parquet shards) is scanned for them."""
    from humansense.flows.build import build_humansense

    secrets = {"HF_TOKEN": "hf_SECRETtoken1234567890", "OPENAI_API_KEY": "sk-SECRETkey0987654321"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml", only_sources("jester"))
    out = tmp_path / "b"
    build_humansense(out=str(out), config_file=str(config))
    scanned = 0
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            assert not any(v.encode() in data for v in secrets.values()), path
    assert scanned > 20

