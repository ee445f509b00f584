"""The parse stage: run one adapter and write its drafts and quarantine as JSON-lines in the work folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from humansense.config import SourceConfig
from humansense.ids import digest
from humansense.io import jsonl_writer, write_json, write_jsonl
from humansense.media import sha256_file
from humansense.schema import SCHEMA_VERSION
from humansense.sources import adapter_class
from humansense.sources.pools import write_pools


def parse_key(name: str, config: SourceConfig, root: Path, seed: int) -> str:
    """What decides a source's drafts: its annotation files' bytes, the adapter's code, its config and the seed."""
    adapter = adapter_class(name)(config, root, seed)
    files = {f.name: (sha256_file(f) if f.is_file() else None) for f in adapter.annotation_files()}
    manifest = adapter.annotated_file()  # which records the annotate stage reached
    if manifest is not None and manifest.is_file():
        files[manifest.name] = sha256_file(manifest)
    return digest(name, files, adapter.code_version(), config.model_dump(mode="json", exclude={"root"}), seed,
                  SCHEMA_VERSION, length=32)


KEEP_PARSED = 3  # parse outputs kept per source (most recent first): an edit undone finds its old output in place


def parsed_folder(work: Path, name: str, key: str) -> Path:
    """Where a source's parse output for one key lives: a value per key, never one file overwritten per source, so
    edit -> rebuild -> revert -> rebuild reuses the first output instead of the edited one."""
    return work / "parsed" / name / key


def parse_source(name: str, config: SourceConfig, root: Path, seed: int, work: Path, key: str | None = None) -> dict:
    adapter = adapter_class(name)(config, root, seed)
    out = parsed_folder(work, name, key or parse_key(name, config, root, seed))
    with jsonl_writer(out / "drafts.jsonl") as write:  # streamed: memory does not grow with the source
        result = adapter.parse(sink=write)
    write_jsonl(out / "quarantine.jsonl", result.quarantined)
    write_pools(out, name, adapter.pools())
    summary = result.summary()
    del summary["quarantine"]  # kept in the file; the returned summary stays small
    summary.update(drafts=str(out / "drafts.jsonl"), quarantine=str(out / "quarantine.jsonl"),
                   annotation_files={f.name: sha256_file(f) for f in adapter.annotation_files() if f.is_file()})
    write_json(out / "summary.json", summary)
    _prune(out.parent, keep=out)
    return summary


def _prune(folder: Path, keep: Path) -> None:
    """Drop all but the KEEP_PARSED most recent parse outputs of a source (an output removed is recomputed)."""
    outputs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [p for p in outputs if p != keep][KEEP_PARSED - 1:]:
        shutil.rmtree(old, ignore_errors=True)
