from __future__ import annotations

import json
from pathlib import Path

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


def test_every_folder_of_the_package_is_declared_so_setup_has_nothing_to_warn_about():
    """setuptools warns, pages of it on a first install, for each importable folder it is not told about (the
    sample's sources, the templates, the review page): every folder that holds files is a declared package, every
    declared package exists, and a folder of data only has its files declared."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = tool["package-dir"]

    def folder(package: str) -> Path:
        base = max((p for p in mapped if package == p or package.startswith(p + ".")), key=len)
        return root / mapped[base] / Path(*package[len(base):].split(".")[1:])

    found = set()
    for package in mapped:
        for sub in [folder(package), *folder(package).rglob("*")]:
            if sub.is_dir() and sub.name != "__pycache__" and any(f.is_file() for f in sub.iterdir()):
                name = ".".join([package, *sub.relative_to(folder(package)).parts])
                if folder(name) == sub:  # not a folder that another mapping installs
                    found.add(name)
    assert found == set(tool["packages"])
    data_only = {p for p in found if not any(folder(p).glob("*.py"))}
    assert data_only and data_only <= set(tool["package-data"])


def test_the_config_and_cli_references_cover_every_key_and_command_as_the_code_says():
    """docs/config.md and docs/cli.md are generated (scripts/gen_reference.py): every config key has a meaning (a
    comment beside it in humansense/config.py), every command and option a help text, and the committed pages are
    what the code gives now, so a new key or command without an entry fails here."""
    from humansense.doc_reference import REFERENCES, cli_commands, config_keys

    keys = list(config_keys())
    assert len(keys) > 150 and [f"{k.section}.{k.name}" for k in keys if not k.meaning] == []
    assert {"annotators.llm.model", "sources.skindeep.fetch.manifest", "release.media_mode"} <= \
        {f"{k.section}.{k.name}" for k in keys}
    commands = cli_commands()
    paths = {c.path for c in commands}
    for public in ("build", "sources check", "sources scan", "annotate", "qc serve", "qc report", "score",
                   "release push", "media materialize"):
        assert f"humansense {public}" in paths, public
    assert [c.path for c in commands if not c.help] == []
    assert [(c.path, flags) for c in commands for flags, _, help_text in c.options if not help_text] == []
    root = Path(__file__).resolve().parents[1]
    for name, make in REFERENCES.items():
        assert (root / name).read_text(encoding="utf-8") == make(), f"{name} is stale: run scripts/gen_reference.py"
