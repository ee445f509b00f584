"""The release diff: what a rebuild changed against the previous release (a folder or the Hub), with reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from humansense.cli import app
from humansense.release.diff import DIFF_FILE, diff_items, release_diff
from humansense.release.hub import build_tag, push_release
from humansense.release.score import load_items
from humansense.schema import Option, Quarantined

from fakehub import FakeHub


def _edited(item, **update):
    return item.model_copy(update=update)


def test_each_kind_of_change_gets_its_reason(sample_build):
    old = load_items(sample_build[0] / "release")
    by_task: dict[str, list] = {}
    for item in old:
        by_task.setdefault(item.task, []).append(item)
    relabelled, reworded, reordered, rejected, dropped = (by_task["GR"][0], by_task["GR"][1], by_task["FG"][0],
                                                          by_task["FG"][1], by_task["CM"][0])
    shifted = by_task["GR"][2]
    swapped = list(reversed([o.text for o in reordered.options]))
    moved_to = reordered.options[len(swapped) - 1 - "ABCDEFGH".index(reordered.answer)].letter  # the answer moves
    edits = {
        relabelled.id: _edited(relabelled, annotations={**relabelled.annotations, "label": "Shaking Hand"}),
        reworded.id: _edited(reworded, question=reworded.question + " Answer with a letter."),
        shifted.id: _edited(shifted, provenance=shifted.provenance.model_copy(
            update={"annotation_row": shifted.provenance.annotation_row + 5})),  # rows inserted above it
        reordered.id: _edited(reordered, answer=moved_to, options=[Option(letter=o.letter, text=t)
                                                                   for o, t in zip(reordered.options, swapped)]),
    }
    new = [edits.get(i.id, i) for i in old if i.id not in {rejected.id, dropped.id}]
    added = _edited(by_task["PA"][0], id="PA-celebvhq-brand-new",
                    provenance=by_task["PA"][0].provenance.model_copy(update={"record_id": "brand-new"}))
    new.append(added)
    quarantine = [Quarantined(stage="qc", source=rejected.provenance.source, reason="rejected in review: wrong answer",
                              detail="reviewer 2", record_id=rejected.provenance.record_id)]
    diff = diff_items(old, new, quarantine, "the previous release").to_json()

    changed = {c["id"]: c["reasons"] for c in diff["changed"]}
    assert changed == {relabelled.id: ["source record changed"], reworded.id: ["template changed"],
                       reordered.id: ["options changed"], shifted.id: ["source row moved"]}
    removed = {r["id"]: r["reason"] for r in diff["removed"]}
    assert removed == {rejected.id: "QC rejected: wrong answer",
                       dropped.id: "no longer selected or no longer in the source"}
    assert [(a["id"], a["reason"]) for a in diff["added"]] == [(added.id, "new source record")]
    assert diff["counts"] == {"added": 1, "removed": 2, "changed": 4, "unchanged": len(old) - 6}
    assert sum(v["changed"] for k, v in diff["per_task"].items() if k.startswith("GR/")) == 3
    assert diff["reasons"]["removed"] == {"QC rejected: wrong answer": 1,
                                          "no longer selected or no longer in the source": 1}


def test_builds_record_the_diff_in_the_release_and_the_card(sample_build):
    out, first, second, _ = sample_build
    assert first["release_diff"]["summary"].startswith("first release")
    counts = second["release_diff"]["counts"]
    assert counts == {"added": 0, "removed": 0, "changed": 0, "unchanged": second["items"]}
    saved = json.loads((out / "release" / DIFF_FILE).read_text())
    assert saved["previous"] == "the previous release in this build folder" and saved["changed"] == []
    card = (out / "release" / "README.md").read_text()
    assert "## Changes since the previous release" in card and "+0 added, -0 removed, ~0 changed" in card
    assert str(out) not in json.dumps(saved)  # the build folder's path is not published


def _reworded_copy(release: Path, dest: Path) -> str:
    """A copy of the release where the first GR eval question is worded differently; returns that item's id."""
    shutil.copytree(release, dest)
    shard = sorted(dest.glob("data/GR/eval-*.parquet"))[0]
    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[0]["question"] += " (reworded)"
    pq.write_table(table.from_pylist(rows, schema=table.schema), shard)
    return rows[0]["id"]


def test_release_diff_command_compares_two_folders(sample_build, tmp_path: Path):
    release = sample_build[0] / "release"
    item_id = _reworded_copy(release, tmp_path / "new")
    result = CliRunner().invoke(app, ["release", "diff", str(release), str(tmp_path / "new"), "--json"])
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["changed"] == [{"id": item_id, "task": "GR", "split": "eval", "reasons": ["template changed"]}]
    assert diff["added"] == diff["removed"] == []
    table = CliRunner().invoke(app, ["release", "diff", str(release), str(tmp_path / "new")])
    assert "GR/eval" in table.output and "changed: template changed: 1" in table.output
    missing = CliRunner().invoke(app, ["release", "diff", str(tmp_path / "nowhere"), str(release)])
    assert missing.exit_code == 1 and "no eval/train shards" in missing.output


def test_diff_against_the_hub_and_in_the_push_commit(sample_build, tmp_path: Path, monkeypatch):
    release = sample_build[0] / "release"
    with FakeHub() as hub:
        push_release(release, "org/hs", allow_unreviewed=True, allow_sample=True, endpoint=hub.url)
        summary = hub.commits[-1]["header"]["summary"]  # the last piece: the card, manifest and task
        assert summary.startswith(f"humansense-build release {build_tag(release)}: items +0 -0 ~0, files +")
        assert "+0 added, -0 removed, ~0 changed" in hub.commits[-1]["header"]["description"]
        item_id = _reworded_copy(release, tmp_path / "new")
        result = CliRunner().invoke(app, ["release", "diff", "hf://org/hs", str(tmp_path / "new"), "--json",
                                          "--endpoint", hub.url])
        assert result.exit_code == 0, result.output
        assert [c["id"] for c in json.loads(result.stdout)["changed"]] == [item_id]
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # how a build reaches another Hub
        new_items = load_items(tmp_path / "new")
        in_build = release_diff("hf://org/hs", new_items, [], tmp_path / "scratch").to_json()
        assert in_build["previous"] == "hf://org/hs" and in_build["counts"]["changed"] == 1
        gone = release_diff("hf://org/absent", new_items, [], tmp_path / "scratch2").to_json()
        assert gone["summary"].startswith("first release")
