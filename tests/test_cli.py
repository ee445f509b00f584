from __future__ import annotations

import json

from typer.testing import CliRunner

from humansense.cli import app

runner = CliRunner()


def test_sources_check_prints_a_json_summary_of_the_sample():
    result = runner.invoke(app, ["sources", "check", "--source", "jester"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records_read"] == 10 and summary["candidates_per_task"] == {"GR": 6}
    assert summary["quarantined_by_reason"] == {"label not used for GR": 1, "malformed row": 1, "unknown label": 1,
                                                "unsafe id": 1}
    bad = next(q for q in summary["quarantine"] if q["reason"] == "unknown label")
    assert bad == {"stage": "parse", "source": "jester", "reason": "unknown label", "file": "jester-v1-validation.csv",
                   "row": 7, "record_id": "1205",
                   "detail": "jester-v1-validation.csv, row 7: 'Waving Hello' is not in jester-v1-labels.csv"}


def test_sources_check_on_a_user_folder(tmp_path):
    (tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "Arson011_x264.mp4  Arson  150  420  680  1267  \n")
    result = runner.invoke(app, ["sources", "check", "--source", "ucf_crime", "--root", str(tmp_path), "--no-media"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["candidates_per_task"] == {"AC": 1}
    # With the media check (the default), a folder without the videos is an error, not a pass.
    result = runner.invoke(app, ["sources", "check", "--source", "ucf_crime", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "no draft has usable media" in result.output


def test_unknown_source_is_a_clear_error():
    result = runner.invoke(app, ["sources", "check", "--source", "youtube2"])
    assert result.exit_code == 2 and "unknown source 'youtube2'" in result.output
