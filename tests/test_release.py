"""The release: splits without leakage, shards, the dataset card (loaded by `datasets`), the authors' format,
the lmms-eval task, the manifest, the scorer and the Hub push (huggingface_hub against a local stand-in)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from humansense.config import ReleaseConfig, SplitConfig
from humansense.release.hub import PushRefused, plan_push, push_release
from humansense.release.score import (lenient_answer, load_items, load_questions, read_predictions, score,
                                      score_questions, strict_credit)
from humansense.release.shards import write_shards
from humansense.selection.select import candidate_of, select
from humansense.release.splits import LeakageError, check_leakage, tiny_ids
from humansense.release.writer import read_manifest
from humansense.schema import ClipSpec, Item, ItemDraft, Media, Option, Provenance
from humansense.tasks import QUESTION_PATTERN, TASKS

from fakehub import FakeHub

PATTERNS = set(QUESTION_PATTERN.values())


def gen_drafts(n_groups=300, seed=0):
    rng = random.Random(seed)
    drafts = []
    for g in range(n_groups):
        for k in range(rng.randint(1, 4)):  # several clips of one source video, feeding PA and ER
            for abbr in ("PA", "ER"):
                drafts.append(ItemDraft(
                    id=f"{abbr.lower()}-{g}-{k}", task=abbr, answers=["Male"] if abbr == "PA" else ["Happy"],
                    distractors=["Young", "Bald", "Sad"], clip=ClipSpec(kind="span", source_path="/x", start_s=0, end_s=1),
                    provenance=Provenance(source="celebvhq", record_id=f"v{g}_{k}", group=f"v{g}", original_file="f")))
    return drafts


def test_groups_never_straddle_splits_and_eval_meets_its_targets_exactly():
    drafts = gen_drafts()
    cfg = SplitConfig(eval_targets={"PA": 120, "ER": 120}, eval_max_fraction=0.5, eval_reserve=0, eval_reserve_min=0)
    split = select([candidate_of(d) for d in drafts], cfg, seed=3).split
    by_group: dict[str, set[str]] = {}
    for d in drafts:
        by_group.setdefault(d.provenance.group, set()).add(split.get(d.id, "none"))
    assert all(len(s - {"none"}) == 1 for s in by_group.values())  # a source video is wholly in eval or in train
    counts = Counter((d.task, split.get(d.id)) for d in drafts)
    assert counts[("PA", "eval")] == 120 and counts[("ER", "eval")] == 120 and counts[("PA", "train")] > 300
    assert select([candidate_of(d) for d in reversed(drafts)], cfg, seed=3).split == split
    assert select([candidate_of(d) for d in drafts], cfg, seed=4).split != split


def item(i: int, split: str, group: str, task="GR") -> Item:
    spec = TASKS[task]
    return Item(id=f"{task.lower()}-{i}", task=task, level=spec.level, modality=spec.modality, kind=spec.kind,
                question_pattern=QUESTION_PATTERN[spec.kind], question="Which gesture?",
                options=[Option(letter=L, text=t) for L, t in zip("ABCD", ["Thumb Up", "Thumb Down", "Stop Sign",
                                                                           "Swiping Left"])],
                answer="ABCD"[i % 4], media=Media(path=f"data/videos/{group}.mp4", duration_s=1, modality="video"),
                provenance=Provenance(source="jester", record_id=str(i), group=group, original_file="f"),
                template_id="gr-1", split=split)


def test_leakage_check_names_the_overlap():
    assert check_leakage([item(1, "eval", "a"), item(2, "train", "b")]) == {"eval": 1, "train": 1}
    with pytest.raises(LeakageError, match=r"group\(s\) in both eval and train.*jester:a \(eval: jester 1; "
                                           r"train: jester 2\)") as caught:
        check_leakage([item(1, "eval", "a"), item(2, "train", "a")])
    assert "\n" not in str(caught.value)  # one line, naming records and sources
    assert Provenance(source="jester", record_id="7", original_file="f").group_key == "jester:7"


def test_tiny_is_a_seeded_subset_of_eval_with_the_configured_count():
    items = [item(i, "eval" if i % 3 else "train", f"g{i}") for i in range(200)]
    tiny = tiny_ids(items, SplitConfig(tiny_per_task=30), seed=1)
    assert len(tiny) == 30 and tiny <= {i.id for i in items if i.split == "eval"}
    assert tiny == tiny_ids(list(reversed(items)), SplitConfig(tiny_per_task=30), seed=1)


def clips_for(items: list[Item], root: Path, size: int) -> None:
    for i in items:
        clip = root / i.media.path
        clip.parent.mkdir(parents=True, exist_ok=True)
        clip.write_bytes(hashlib.sha256(i.id.encode()).digest() * (size // 32))  # distinct bytes per clip


def test_shards_hash_items_stably_and_bound_row_groups(tmp_path: Path, monkeypatch):
    import humansense.release.shards as shards

    items = [item(i, "eval", f"g{i}") for i in range(40)]
    clips_for(items, tmp_path, 32 * 1024)
    cfg = ReleaseConfig(shard_max_bytes=2**18, row_group_max_bytes=2**16)
    monkeypatch.setattr(shards, "VIEWER_MAX_READ_BYTES", 33 * 1024)  # so that one clip counts as too big for a read
    (tmp_path / items[0].media.path).write_bytes(b"x" * 40 * 1024)
    (tmp_path / items[1].media.path).unlink()  # a referenced clip: no bytes in the release
    written = write_shards(items, tmp_path / "first", "eval", cfg, tmp_path)
    count = shards.shard_count(sum(32 * 1024 + shards.ROW_OVERHEAD_BYTES for _ in items), cfg.shard_max_bytes)
    assert count == 16 and written.oversized == [items[0].media.path]
    assert all(re.fullmatch(r"eval-\d{5}-of-00016\.parquet", f.path.name) for f in written.files)
    rows = {}
    for f in written.files:
        meta = pq.read_metadata(f.path)
        assert hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256 and f.path.stat().st_size == f.bytes
        assert all(b <= cfg.row_group_max_bytes or n == 1 for b, n in
                   zip(f.row_groups, (meta.row_group(k).num_rows for k in range(meta.num_row_groups))))
        for row in pq.read_table(f.path).to_pylist():
            assert shards.shard_of(row["id"], count) == int(f.path.name[5:10])
            rows[row["id"]] = row
    assert set(rows) == {i.id for i in items}
    one = rows[items[2].id]
    assert one["video"]["bytes"] == (tmp_path / items[2].media.path).read_bytes() and one["audio"] is None
    assert one["video"]["path"] == Path(items[2].media.path).name
    assert one["media_info"]["status"] == "embedded" and one["media_info"]["bytes"] == 32 * 1024
    missing = rows[items[1].id]
    assert missing["video"] is None and missing["media_info"]["status"] == "reference"
    # a rebuild with one item changed rewrites that item's shard alone, the others byte for byte the same
    changed = [i.model_copy(update={"question": "Which hand gesture?"}) if i.id == items[7].id else i for i in items]
    again = write_shards(changed, tmp_path / "second", "eval", cfg, tmp_path)
    differ = [f.path.name for f, g in zip(written.files, again.files) if f.path.read_bytes() != g.path.read_bytes()]
    assert differ == [f"eval-{shards.shard_of(items[7].id, count):05d}-of-00016.parquet"]
    assert not list((tmp_path / "first").glob(".*tmp"))


def test_release_has_three_splits_without_leakage(sample_build):
    out, first, _, _ = sample_build
    release = out / "release"
    items = load_items(release)
    assert check_leakage(items)["train"] > 0 and first["items_per_split"]["eval"] > 0
    tiny = load_items(release, ("tiny",))
    eval_ids = {i.id for i in items if i.split == "eval"}
    assert {i.id for i in tiny} == eval_ids  # fewer than 30 per task in the sample: tiny is all of eval


def test_datasets_load_every_config_and_split(sample_build):
    from datasets import load_dataset

    release = sample_build[0] / "release"
    header = yaml.safe_load((release / "README.md").read_text().split("---")[1])
    names = [c["config_name"] for c in header["configs"]]
    assert names[0] == "all" and {"PA", "AR", "GR", "ER", "CM", "AC", "HC"} <= set(names)
    ds = load_dataset(str(release), "all")
    assert set(ds) == {"eval", "train", "tiny"}
    total = sum(1 for _ in load_items(release))
    assert ds["eval"].num_rows + ds["train"].num_rows == total
    assert ds["eval"].features["options"].feature["letter"].dtype == "string"
    hc = load_dataset(str(release), "HC")
    assert set(hc["eval"]["task"]) == {"HC"}
    assert [f["name"] for f in header["dataset_info"]["features"]][:3] == ["schema_version", "id", "task"]


DECODE = """
import hashlib, json, sys
from datasets import Audio, Video, load_dataset
release = sys.argv[1] if len(sys.argv) > 1 else RELEASE
fg = load_dataset(release, "FG", split="eval")
samples = fg[0]["audio"].get_all_samples()
gr = load_dataset(release, "GR", split="eval")
video = gr[0]["video"]
raw = gr.cast_column("video", Video(decode=False))
print(json.dumps({
    "features": [type(fg.features["audio"]).__name__, type(fg.features["video"]).__name__],
    "fg": {"rate": samples.sample_rate, "samples": samples.data.shape[-1], "info": fg[0]["media_info"],
           "video": fg[0]["video"]},
    "gr": {"first_frame": list(video[0].shape), "frames": video.metadata.num_frames,
           "fps": video.metadata.average_fps, "duration": video.metadata.duration_seconds, "info": gr[0]["media_info"]},
    "raw": [{"sha256": hashlib.sha256(r["video"]["bytes"]).hexdigest(), "name": r["video"]["path"],
             "info": r["media_info"]} for r in raw],
}))
"""


def test_datasets_decode_the_embedded_audio_and_video(sample_build):
    """`datasets` reads the media as Audio and Video features (decoded by torchcodec), bytes and all."""
    import wave

    from conftest import run_isolated

    release = sample_build[0] / "release"
    manifest = read_manifest(release)
    seen = run_isolated(DECODE.replace("RELEASE", repr(str(release))))
    assert seen["features"] == ["Audio", "Video"]
    fg = seen["fg"]
    with wave.open(str(release / fg["info"]["path"]), "rb") as clip:
        rate, frames = clip.getframerate(), clip.getnframes()
    assert (fg["rate"], fg["samples"]) == (rate, frames) and fg["video"] is None
    assert frames / rate == pytest.approx(fg["info"]["duration_s"], abs=0.05)
    gr = seen["gr"]
    assert gr["first_frame"] == [3, gr["info"]["height"], gr["info"]["width"]]  # channels first
    assert gr["frames"] == gr["info"]["frame_count"] and gr["fps"] == pytest.approx(gr["info"]["fps"])
    assert gr["duration"] == pytest.approx(gr["info"]["duration_s"], abs=0.1)
    for r in seen["raw"]:  # decode=False: the embedded bytes are the release's clip, by the manifest's sha256
        assert r["sha256"] == manifest[r["info"]["path"]]["sha256"] == r["info"]["sha256"]
        assert r["name"] == Path(r["info"]["path"]).name and r["info"]["status"] == "embedded"
    # the Parquet files carry the features themselves (as `datasets` writes them), and both media columns
    schema = pq.read_schema(next(release.glob("data/FG/eval-*.parquet")))
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["audio"]["_type"] == "Audio" and features["video"]["_type"] == "Video"


def test_authors_format_matches_the_mission_brief(sample_build):
    release = sample_build[0] / "release"
    vqa = json.loads((release / "data" / "HumanSense_VQA.json").read_text())
    aqa = json.loads((release / "data" / "HumanSense_AQA.json").read_text())
    eval_items = [i for i in load_items(release, ("eval",))]
    assert len(vqa) + len(aqa) == len(eval_items) and aqa
    assert len(aqa) == sum(i.task in ("FG", "PC") for i in eval_items)
    for rec in aqa:  # audio items: the audio path in video_path, no frame fields
        assert set(rec["questions"]) == {"question", "question_pattern", "options", "answer", "task_type"}
        assert rec["video_path"].startswith("data/audios/") and (release / rec["video_path"]).is_file()
    for rec in vqa:
        assert set(rec) == {"video_path", "questions"} and rec["video_path"].startswith("data/videos/")
        assert (release / rec["video_path"]).is_file()
        q = rec["questions"]
        assert {"question", "question_pattern", "options", "answer", "task_type", "full_frame_number", "fps"} <= set(q)
        assert q["question_pattern"] in PATTERNS and q["task_type"] != "Abnormal_Recognition"
        assert isinstance(q["full_frame_number"], int) and q["full_frame_number"] > 0
        if q["question_pattern"].startswith("Question and answer"):
            assert q["options"] == [] and q["answer"].isdigit() and len(q["answer"]) == 1
        else:
            assert all(o[1:3] == ". " for o in q["options"]) and q["answer"] == "".join(sorted(q["answer"]))
    lmms = yaml.safe_load((release / "lmms_eval" / "humansense.yaml").read_text().replace("!function", ""))
    assert lmms["task"] == "humansense" and lmms["test_split"] == "eval"  # the task itself: tests/test_lmms_eval.py
    assert lmms["dataset_kwargs"]["data_files"] == {"eval": "data/*/eval-*.parquet"}


def test_manifest_lists_every_file_with_its_checksum(sample_build):
    release = sample_build[0] / "release"
    manifest = read_manifest(release)
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest) == files
    some = "data/HumanSense_VQA.json"
    assert manifest[some]["sha256"] == hashlib.sha256((release / some).read_bytes()).hexdigest()


def test_scorer_strict_and_lenient_rules(sample_build, tmp_path: Path):
    release = sample_build[0] / "release"
    items = load_items(release, ("eval",))
    single = next(i for i in items if i.kind == "single")
    wrong = next(o.letter for o in single.options if o.letter != single.answer)
    assert strict_credit(single, f"{single.answer}. because") == 1 and strict_credit(single, f"({single.answer})") == 0
    assert lenient_answer(single, f"I think the answer is ({single.answer}).") == single.answer
    text = next(o.text for o in single.options if o.letter == single.answer)
    assert lenient_answer(single, f"It shows {text.lower()}") == single.answer
    assert lenient_answer(single, f"Answer: {wrong}") == wrong
    multi = next(i for i in items if i.kind == "multi")
    assert lenient_answer(multi, "The answer is " + ", ".join(multi.answer)) == multi.answer
    count = next(i for i in items if i.kind == "numeral")
    assert lenient_answer(count, "There are three people.") == "3"
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": i.id, "output": i.answer if n % 2 == 0 else "no idea"}) + "\n"
                             for n, i in enumerate(items)))
    result = score(items, read_predictions(preds, items))
    video = [r["strict"] for t, r in result["tasks"].items() if t not in ("FG", "PC")]
    assert len(result["tasks"]) == 15 and len(video) == 13
    assert result["summary"]["strict"]["Avg."] == pytest.approx(sum(video) / 13)  # the 13 video tasks
    assert result["summary"]["strict"]["Avg.*"] == pytest.approx(
        sum(r["strict"] for r in result["tasks"].values()) / 15)  # all 15
    assert result["tasks_missing"] == []
    vqa = json.loads((release / "data" / "HumanSense_VQA.json").read_text()) + \
        json.loads((release / "data" / "HumanSense_AQA.json").read_text())  # the two files, answered together
    for rec in vqa:
        rec["questions"]["model_output"] = rec["questions"]["answer"]
    authors = tmp_path / "authors.json"
    authors.write_text(json.dumps(vqa))
    questions, read = load_questions(authors, release=None)  # the authors' file carries its answers
    perfect = score_questions(questions)
    assert read["model"] == "model_output" and len(questions) == len(items)
    assert perfect["summary"]["strict"]["Avg."] == 1.0 and all(r["left_out"] == 0 for r in perfect["tasks"].values())


def test_hub_dry_run_gate_and_one_commit_push(sample_build, monkeypatch, capsys):
    from typer.testing import CliRunner

    from humansense.cli import app

    release = sample_build[0] / "release"
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret_token")
    with FakeHub() as hub:
        hub.repos["org/hs"] = {".gitattributes": b"x", "README.md": b"old card", "data/old/eval.parquet": b"stale",
                               "LICENSE.md": (release / "LICENSE.md").read_bytes()}
        runner = CliRunner()
        dry = runner.invoke(app, ["release", "push", "--repo-id", "org/hs", "--release", str(release), "--dry-run",
                                  "--endpoint", hub.url])
        assert dry.exit_code == 0, dry.output
        plan = json.loads(dry.stdout)
        assert plan["change"] == ["README.md"] and plan["delete"] == ["data/old/eval.parquet"]
        assert plan["unchanged"] == 1 and "manifest.json" in plan["add"] and not hub.commits
        refused = runner.invoke(app, ["release", "push", "--repo-id", "org/hs", "--release", str(release),
                                      "--endpoint", hub.url])
        assert refused.exit_code == 1 and "QC gate not passed" in refused.output and not hub.commits
        done = push_release(release, "org/hs", allow_unreviewed=True, create_pr=True, endpoint=hub.url)
        # two pieces: the data, then the card, manifest and task with the deletions, on the pull request's branch
        assert len(hub.commits) == 2 and hub.commits[0]["query"] == "create_pr=1" and done.pull_request_url
        assert hub.commits[1]["revision"] == "refs/pr/1" and "README.md" in hub.commits[1]["added"]
        assert sorted(hub.commits[1]["deleted"]) == ["data/old/eval.parquet"] and not hub.commits[0]["deleted"]
        assert not hub.tags  # a pull request is not a release yet
        assert hub.validated and hub.validated[-1]["configs"][0]["config_name"] == "all"
        again = plan_push(release, "org/hs", endpoint=hub.url)
        assert (again.add, again.change, again.delete) == ([], [], [])
        assert set(hub.auth_headers) == {"Bearer hf_test_secret_token"}
        assert "hf_test_secret_token" not in dry.output + refused.output + capsys.readouterr().out


def test_push_refuses_while_the_sample_is_unreviewed(sample_build):
    with pytest.raises(PushRefused, match="not reviewed yet"):
        push_release(sample_build[0] / "release", "org/hs", endpoint="http://127.0.0.1:9")


def test_a_release_built_from_the_sample_is_refused_by_push(sample_build, tmp_path):
    import shutil

    release = tmp_path / "release"
    shutil.copytree(sample_build[0] / "release", release)
    report = json.loads((release / "build_report.json").read_text())
    (release / "build_report.json").write_text(json.dumps({**report, "sample_sources": ["ava", "jester"]}))
    with pytest.raises(PushRefused, match=r"built from the embedded synthetic sample \(ava, jester\), not real data"):
        push_release(release, "org/hs", allow_unreviewed=True, endpoint="http://127.0.0.1:9")


def test_the_authors_training_files_hold_train_only_with_paths_inside_the_release(sample_build):
    from humansense.release.authors import TRAIN_FILES

    release = sample_build[0] / "release"
    items = load_items(release)
    split_of_media = {}
    for i in items:
        split_of_media.setdefault(i.media.path, set()).add(i.split)
    eval_groups = {i.provenance.group_key for i in items if i.split == "eval"}
    train_by_task = Counter(i.task for i in items if i.split == "train")
    for name, tasks in TRAIN_FILES.items():
        records = json.loads((release / "data" / name).read_text())
        assert len(records) == sum(train_by_task[t] for t in tasks)
        for r in records:
            assert (release / r["video_path"]).is_file()
            assert split_of_media[r["video_path"]] == {"train"}
        types = {r["questions"]["task_type"] for r in records}
        assert types <= {TASKS[t].task_type for t in tasks}
    train_groups = {i.provenance.group_key for i in items if i.split == "train"}
    assert train_groups and not train_groups & eval_groups


def test_no_published_file_holds_the_machine_paths_or_a_secret(sample_build):
    """Every text file of the release (card, report, quarantine, authors' files, manifest, lmms-eval task) is
    scanned for the build folder's absolute path, the working directory, the home folder and the test Hub token."""
    import os

    out = sample_build[0]
    release = out / "release"
    needles = {str(out.resolve()), str(Path.cwd().resolve()), str(Path.home()) + "/", "hf_test_secret_token"}
    scanned = 0
    for path in release.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".md", ".yaml", ".py", ".csv"}:
            text = path.read_text(encoding="utf-8")
            scanned += 1
            found = [n for n in needles if n in text]
            assert not found, (path.relative_to(release), found)
    assert scanned >= 8
    quarantine = (release / "quarantine.jsonl").read_text()
    assert "<build>/" in quarantine or "Explosion008" in quarantine  # the corrupt video, named without the path
    assert " @ 0x" not in quarantine and os.sep + "tmp" + os.sep not in quarantine
