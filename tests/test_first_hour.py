"""The first hour with real data, through the CLI: scan a folder of downloads (train and val files of several
sources), check it (unread files, a missing and a short video), config errors in one line, relative roots,
`config show`, and a build that makes nothing failing instead of publishing an empty release."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from humansense.cli import app
from humansense.sample import annotation_root

from conftest import only_sources

runner = CliRunner()


def downloads(top: Path) -> Path:
    """A folder as a user has it: AVA, Jester and ActivityNet with train and val files, TAO with its annotations in
    `annotations/` beside `frames/`, and a stray `train.json` of something else."""
    ava = top / "AVA"
    shutil.copytree(annotation_root("ava"), ava)
    (ava / "ava_train_v2.2.csv").write_text((ava / "ava_val_v2.2.csv").read_text().replace("-aB3xYz9QwE", "tRaIn0000aa"))
    (ava / "ava_train_excluded_timestamps_v2.2.csv").write_text("tRaIn0000aa,0905\n")
    jester = top / "jester"
    shutil.copytree(annotation_root("jester"), jester)
    (jester / "jester-v1-train.csv").write_text("".join(
        f"9{line}\n" for line in (jester / "jester-v1-validation.csv").read_text().splitlines()))
    anet = top / "captions"
    shutil.copytree(annotation_root("activitynet"), anet)
    val = json.loads((anet / "val_1.json").read_text())
    (anet / "train.json").write_text(json.dumps({f"{k}_t": v for k, v in val.items()}))
    (anet / "val_2.json").write_text(json.dumps(val))
    tao = top / "TAO"
    (tao / "annotations").mkdir(parents=True)
    shutil.copy(annotation_root("tao") / "validation.json", tao / "annotations" / "validation.json")
    (tao / "frames").mkdir()
    (top / "misc").mkdir()
    (top / "misc" / "train.json").write_text(json.dumps({"epochs": 3, "lr": 0.1}))
    return top


def test_scan_finds_every_file_and_writes_a_config_that_reads_them(tmp_path):
    top = downloads(tmp_path / "dl")
    config = tmp_path / "hs.toml"
    result = runner.invoke(app, ["sources", "scan", str(top), "--write", str(config)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["sources"]
    assert set(found) == {"ava", "jester", "activitynet", "tao"}
    assert found["ava"]["settings"] == {"annotation_files": ["ava_train_v2.2.csv", "ava_val_v2.2.csv"],
                                        "label_map": ["ava_action_list_v2.2.pbtxt"],
                                        "excluded_timestamps": ["ava_train_excluded_timestamps_v2.2.csv",
                                                                "ava_val_excluded_timestamps_v2.2.csv"]}
    assert found["ava"]["splits"] == ["train", "val"]
    assert found["activitynet"]["settings"]["annotation_files"] == ["train.json", "val_1.json", "val_2.json"]
    assert found["activitynet"]["root"] == str((top / "captions").resolve())  # not misc/train.json
    assert found["tao"]["root"] == str((top / "TAO").resolve())
    assert found["tao"]["settings"]["annotation_files"] == ["annotations/validation.json"]

    checked = runner.invoke(app, ["sources", "check", "--config", str(config), "--no-media"])
    assert checked.exit_code == 0, checked.output
    summary = json.loads(checked.stdout)
    assert set(summary["sources"]) == {"ava", "jester", "activitynet", "tao"}  # the rest are off, not the sample
    assert summary["sources"]["jester"]["records_read"] == 20  # train and validation, 10 each
    assert not any("not read" in w for s in summary["sources"].values() for w in s["warnings"])

    # Without the scan, the defaults read only the validation files: the check says so.
    plain = runner.invoke(app, ["sources", "check", "--source", "jester", "--root", str(top / "jester"),
                                "--no-media"])
    assert "jester-v1-train.csv is present but not read by the config" in plain.output
    assert plain.exit_code == 0
    strict = runner.invoke(app, ["sources", "check", "--source", "jester", "--root", str(top / "jester"),
                                 "--no-media", "--strict"])
    assert strict.exit_code == 1


def test_a_missing_optional_file_is_a_warning_and_the_source_is_still_read(tmp_path):
    ava = tmp_path / "ava"
    shutil.copytree(annotation_root("ava"), ava)
    (ava / "ava_val_excluded_timestamps_v2.2.csv").unlink()
    result = runner.invoke(app, ["sources", "check", "--source", "ava", "--root", str(ava), "--no-media"])
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["records_read"] > 0
    assert any("ava_val_excluded_timestamps_v2.2.csv is missing" in w for w in summary["warnings"])


def ffmpeg_video(path: Path, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:d={seconds}",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)


def test_check_finds_a_missing_and_a_short_video(tmp_path):
    (tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Arrest003_x264.mp4  Arrest  120  360  -1  -1  \n"      # 4-12 s: its video is 20 s
        "Burglary014_x264.mp4  Burglary  90  900  -1  -1  \n"   # 3-30 s: its video is only 5 s
        "Fighting002_x264.mp4  Fighting  60  240  -1  -1  \n")  # never downloaded
    ffmpeg_video(tmp_path / "Arrest003_x264.mp4", 20)
    ffmpeg_video(tmp_path / "Burglary014_x264.mp4", 5)
    result = runner.invoke(app, ["sources", "check", "--source", "ucf_crime", "--root", str(tmp_path)])
    summary = json.loads(result.stdout)
    assert summary["media"]["problems"] == {"missing media": 1, "media shorter than its span": 1}
    assert summary["media"]["files"] == 3
    assert result.exit_code == 0 and "2 of 3 drafts lack usable media" in result.output
    strict = runner.invoke(app, ["sources", "check", "--source", "ucf_crime", "--root", str(tmp_path), "--strict"])
    assert strict.exit_code == 1


@pytest.mark.parametrize("command", [["build", "--out", "OUT"], ["sources", "check"], ["config", "show"]])
def test_a_typo_in_the_config_is_one_line_before_anything_starts(tmp_path, command):
    config = tmp_path / "hs.toml"
    config.write_text('[sources.ava]\nannotation_file = "ava_val_v2.2.csv"\n[media]\ncrf = "high"\n')
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command] + ["--config", str(config)]
    result = runner.invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2
    assert lines == [f"config error: {config}: sources.ava.annotation_file: unknown key; did you mean "
                     "annotation_files?",
                     f"config error: {config}: media.crf: input should be a valid integer, unable to parse string "
                     "as an integer (got 'high')"]
    assert not (tmp_path / "out").exists()


def test_a_relative_root_is_relative_to_the_config_file_and_config_show_says_where_values_come_from(
        tmp_path, monkeypatch):
    shutil.copytree(annotation_root("jester"), tmp_path / "data" / "jester")
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "hs.toml"
    config.write_text('seed = 11\n[sources.jester]\nroot = "../data/jester"\n')
    monkeypatch.chdir("/")  # neither the config folder nor the data
    monkeypatch.setenv("HUMANSENSE_MEDIA__CRF", "30")
    shown = runner.invoke(app, ["config", "show", "--config", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert rows["sources.jester.root"] == {"value": str(tmp_path / "data" / "jester"), "origin": f"file {config}"}
    assert rows["seed"]["origin"] == f"file {config}" and rows["media.crf"] == {"value": 30, "origin": "environment"}
    assert rows["qc.rate"] == {"value": 0.2, "origin": "default"}
    checked = runner.invoke(app, ["sources", "check", "--config", str(config), "--source", "jester", "--no-media"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["records_read"] == 10


def test_a_key_that_moved_is_still_read_under_its_old_name_with_a_warning(tmp_path, monkeypatch):
    """`[split] annotate_margin` (and the other annotation-budget keys) moved to `[annotation_budget]`: a user's file
    or environment that sets the old name builds the same, warned of the new name; the config's fingerprint (in
    every build report) does not change with the move; both names set differently is a one-line error."""
    import warnings

    from humansense.config import BuildConfig, ConfigError, load_config

    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text("[split]\nannotate_margin = 0.5\nannotate_all = true\n")
    new.write_text("[annotation_budget]\nmargin = 0.5\nall_records = true\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_old = load_config(old)
    assert {str(w.message) for w in caught} >= {
        "config: [split] annotate_margin is now [annotation_budget] margin; the old name is read for now"}
    from_new = load_config(new)
    assert from_old.model_dump() == from_new.model_dump()
    assert from_old.annotation_budget.margin == 0.5 and from_old.annotation_budget.all_records
    assert from_old.fingerprint() == from_new.fingerprint() != BuildConfig().fingerprint()
    monkeypatch.setenv("HUMANSENSE_SPLIT__ANNOTATE_EVEN_FACTOR", "2")
    with pytest.warns(FutureWarning, match=r"\[annotation_budget\] even_factor"):
        assert load_config(new).annotation_budget.even_factor == 2
    shown = runner.invoke(app, ["config", "show", "--config", str(old), "--json"])
    assert json.loads(shown.stdout)["annotation_budget.margin"] == {
        "value": 0.5, "origin": f"file {old} (as [split] annotate_margin)"}
    said = "config warning: [split] annotate_margin is now [annotation_budget] margin; the old name is read for now"
    assert shown.stderr.count(said) == 1, shown.stderr  # one line, as a config error is, however often it is read
    monkeypatch.delenv("HUMANSENSE_SPLIT__ANNOTATE_EVEN_FACTOR")
    retired = tmp_path / "retired.toml"  # the evidence folder is the build's to hand the adapter
    retired.write_text('[sources.realtalk]\nevidence_dir = "/somewhere"\nwindow_s = 60\n')
    with pytest.warns(FutureWarning, match=r"\[sources.realtalk\] evidence_dir is set by the build"):
        same = load_config(None, sources={"realtalk": {"window_s": 60}})
        assert load_config(retired).fingerprint() == same.fingerprint()
    both = tmp_path / "both.toml"
    both.write_text("[split]\nannotate_margin = 0.5\n[annotation_budget]\nmargin = 0.1\n")
    with pytest.raises(ConfigError, match=r"annotate_margin \(an old name\) and \[annotation_budget\] margin"):
        load_config(both)


def test_a_build_that_makes_nothing_fails_and_publishes_nothing(prefect_harness, tmp_path):
    empty = tmp_path / "jester"
    empty.mkdir()
    (empty / "jester-v1-labels.csv").write_text("Thumb Up\n")  # the validation file was never downloaded
    config = tmp_path / "hs.toml"
    config.write_text(f'[sources.jester]\nroot = "{empty}"\n' + only_sources("jester"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 1
    assert "source jester: no items (missing annotation file (1))" in result.output
    assert not (out / "release" / "build_report.json").exists()


def test_yt_dlp_default_names_are_read_through_the_cli(tmp_path):
    info = {"id": "Ab3dEf9hIjK", "title": "{THE AND} Married 6 Years with Ana & Leo", "duration": 3}
    stem = "{THE AND} Married 6 Years with Ana & Leo [Ab3dEf9hIjK]"
    (tmp_path / f"{stem}.info.json").write_text(json.dumps(info))
    ffmpeg_video(tmp_path / f"{stem}.mp4", 3)
    result = runner.invoke(app, ["sources", "check", "--source", "skindeep", "--root", str(tmp_path)])
    summary = json.loads(result.stdout)
    assert "unsafe id" not in summary["quarantined_by_reason"]
    assert summary["candidates_per_task"] == {"FR": 1, "RG": 1}
    assert summary["media"]["files"] == 1 and summary["media"]["problems"] == {}


def test_real_sources_mixed_with_the_synthetic_sample_are_refused_before_anything_starts(tmp_path):
    shutil.copytree(annotation_root("jester"), tmp_path / "jester")
    config = tmp_path / "hs.toml"
    config.write_text(f'[sources.jester]\nroot = "{tmp_path / "jester"}"\n')  # the ten others: no root
    result = runner.invoke(app, ["build", "--out", str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 2
    assert "have no root and would read the embedded synthetic sample while jester read real downloads" in result.output
    assert "allow_sample = true" in result.output and not (tmp_path / "out").exists()


def test_a_second_build_on_the_same_folder_is_refused_and_a_dead_holder_frees_it(tmp_path):
    import signal
    import sys
    import time

    from humansense.lock import BuildLocked, build_lock

    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from humansense.lock import build_lock\n"
                               f"with build_lock(__import__('pathlib').Path({str(out)!r})):\n"
                               "    print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = runner.invoke(app, ["build", "--out", str(out)])
        assert result.exit_code == 1 and f"another build is running on {out} (pid {holder.pid}" in result.output
        with pytest.raises(BuildLocked):
            with build_lock(out):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    deadline = time.monotonic() + 5
    while True:  # the kernel frees a killed holder's lock
        try:
            with build_lock(out):
                break
        except BuildLocked:
            assert time.monotonic() < deadline
            time.sleep(0.1)
