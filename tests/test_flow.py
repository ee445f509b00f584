"""The build-humansense flow end to end on the embedded sample, and its cache across runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from humansense.media import probe
from humansense.release.score import load_items
from humansense.schema import ITEM_ARROW_SCHEMA

from conftest import sample_config

pytestmark = pytest.mark.slow
LABEL_TASKS = ["PA", "AR", "GR", "ER", "CM", "AC", "HC", "FR", "RG"]
EXPECTED = {  # (task, source record) -> answer text, straight from the sample's annotation files
    ("ER", "aB3dE5fG7hI_0"): ["Happy"], ("ER", "aB3dE5fG7hI_1"): ["Sad"], ("ER", "_x9Kq2Lm0Zp_3"): ["Surprise"],
    ("ER", "aB3dE5fG7hI_3"): ["Anger"], ("GR", "34870"): ["Drumming Fingers"], ("GR", "1202"): ["Swiping Left"],
    ("AC", "Arrest003_x264.mp4"): ["Arrest"], ("AC", "Normal_Videos_017_x264.mp4"): ["Nothing abnormal"],
    ("HC", "val/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e"): ["3"], ("HC", "val/Charades/3F2ZV"): ["1"],
}


def test_build_makes_items_for_every_label_task(sample_build):
    out, first, _, _ = sample_build
    release = out / "release"
    items = load_items(release)
    for shard in release.glob("data/*/*.parquet"):
        assert pq.read_schema(shard).equals(ITEM_ARROW_SCHEMA)
    assert {i.task for i in items} == set(LABEL_TASKS)
    assert first["items_per_task"] == {**{t: 0 for t in first["items_per_task"]},
                                       "PA": 5, "AR": 5, "GR": 5, "ER": 4, "CM": 4, "AC": 4, "HC": 3,
                                       "FR": 2, "RG": 4}
    by_record = {(i.task, i.provenance.record_id): i for i in items}
    for key, answer in EXPECTED.items():
        assert by_record[key].answer_texts() == answer, key
    for item in items:
        info = probe(release / item.media.path)  # every item points at a clip ffprobe reads
        assert info.has_video and info.duration_s == pytest.approx(item.media.duration_s, abs=0.05)
        truth = item.annotations
        if item.task == "PA":
            present = {a.replace("_", " ") for a in truth["appearance_present"]}
            assert {t.lower() for t in item.answer_texts()} <= present
        if item.task == "AR":
            assert set(item.answer_texts()) <= set(truth["actions"])
        if item.task == "CM":
            assert item.answer_texts()[0].startswith(truth["events"][0]["sentence"].rstrip("."))


def test_bad_records_are_quarantined_with_reasons_and_the_build_goes_on(sample_build):
    out, first, _, _ = sample_build
    entries = [json.loads(line) for line in (out / "release" / "quarantine.jsonl").read_text().splitlines()]
    seen = {(q["stage"], q["reason"], q.get("record_id")) for q in entries}
    assert ("media", "missing media", "Zz9Yy8Xx7Ww_0") in seen  # the video was never downloaded
    assert ("media", "missing media", "1207") in seen  # no Jester frame folder
    assert ("media", "unreadable media", "Explosion008_x264.mp4") in seen  # a corrupt file
    assert ("parse", "unknown label", "1205") in seen and ("parse", "unsafe id", None) in seen
    assert first["quarantined"] == len(entries) == 32
    assert all(q["detail"] for q in entries)


def test_second_build_reuses_every_cached_task(sample_build):
    out, first, second, items_first = sample_build
    assert first["media_tasks"]["cached"] == 0 and first["media_tasks"]["clips_cut"] == 31
    assert second["media_tasks"]["total"] == first["media_tasks"]["total"] > 1
    assert second["media_tasks"]["cached"] == second["media_tasks"]["total"]  # nothing was cut again
    assert second["media_tasks"]["clips_cut"] == 0 and second["media_tasks"]["clips_reused"] == 31
    assert sorted((p.relative_to(out).as_posix(), p.read_bytes())
                  for p in (out / "release" / "data").glob("*/*.parquet")) == items_first  # the same bytes out
    assert not [p for p in out.iterdir() if p.name.startswith(".release")]  # no temp or old release left


def test_lost_clips_are_cut_again_rather_than_trusted(prefect_harness, sample_roots, tmp_path):
    from humansense.flows.build import build_humansense

    config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml")
    text = config.read_text() + "".join(f"[sources.{n}]\nenabled = false\n"
                                        for n in ["celebvhq", "ava", "activitynet", "ucf_crime", "tao", "skindeep"])
    config.write_text(text)
    build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    for clip in (tmp_path / "b" / "cache" / "clips").iterdir():
        clip.unlink()
    report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    assert report["media_tasks"]["cached"] == 0 and report["media_tasks"]["clips_cut"] == 5
    assert report["items_per_task"]["GR"] == 5


def test_readme_build_command_runs_on_the_embedded_sample(tmp_path):
    """`humansense build` as a user types it: a fresh process, its own temporary Prefect server, the sample."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    run = subprocess.run([sys.executable, "-m", "humansense.cli", "build", "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "media tasks: 0 of" in run.stderr and "Quarantined records: 32" in run.stderr
    report = json.loads((tmp_path / "b" / "release" / "build_report.json").read_text())
    assert all(report["items_per_task"][t] > 0 for t in LABEL_TASKS)
    assert sorted(report["sample_sources"]) == ["activitynet", "ava", "celebvhq", "jester", "skindeep", "tao",
                                             "ucf_crime"]


def test_bias_audit_with_a_text_only_llm_and_its_account_in_the_report(prefect_harness, sample_roots, tmp_path):
    from fakellm import FakeLLM

    from humansense.flows.build import build_humansense

    with FakeLLM({"answer": "B"}) as fake:
        extra = ("[augment]\naudit_with_llm = true\n[annotators.llm]\n"
                 f'base_url = "{fake.url}"\nmodel = "fake"\n'
                 + "".join(f"[sources.{n}]\nenabled = false\n" for n in ["celebvhq", "ava", "activitynet", "tao",
                                                                        "ucf_crime", "skindeep"]))
        config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml", extra)
        report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
    assert report["llm_account"]["requests"] == report["items_per_task"]["GR"] == len(fake.requests)
    audit_rows = (tmp_path / "b" / "release" / "audit" / "bias_audit.csv").read_text()
    assert "GR,text-only LLM," in audit_rows
