"""The parse stage: run one adapter and write its drafts and quarantine as JSON-lines in the work folder."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

from humansense.sections import SourceConfig
from humansense.ids import digest
from humansense.io import jsonl_writer, read_jsonl, write_json
from humansense.keyed import stat_signature, touch_and_prune
from humansense.media import sha256_file
from humansense.schema import SCHEMA_VERSION, ItemDraft, Quarantined
from humansense.sources import adapter_class
from humansense.sources.base import forget_shared_caches
from humansense.sources.pools import write_pools


def parse_key(name: str, config: SourceConfig, root: Path, seed: int, evidence: Path | None = None) -> str:
    """What decides a source's drafts: its annotation files' bytes, the evidence folder and which records the
    annotate stage reached there, the adapter's code, its config and the seed."""
    adapter = adapter_class(name)(config, root, seed, evidence)
    files = annotation_digests(adapter.annotation_files())
    manifest = adapter.annotated_file()  # which records the annotate stage reached
    if manifest is not None and manifest.is_file():
        files[manifest.name] = sha256_file(manifest)
    return digest(name, files, adapter.code_version(), config.model_dump(mode="json", exclude={"root"}), seed,
                  SCHEMA_VERSION, str(evidence) if evidence else None, length=32)


def annotation_digests(files: list[Path]) -> dict[str, str | None]:
    """SHA-256 of each annotation file by name (None: missing)."""
    return {f.name: _annotation_digest(str(f), *stat_signature(f)) if f.is_file() else None for f in files}


# A build asks for an annotated source's parse key twice (predicted before annotation, then by the parse task), and
# RealTalk's annotation files are an EMOCA pickle per conversation (1.3 GB for the 692 of the full-size tree): each
# file is hashed once per process while it keeps its size and modification time (as `probe_source` does).
@functools.lru_cache(maxsize=65536)
def _annotation_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


MEDIA_FILES = "media_files.json"  # beside drafts.jsonl: the distinct media files its drafts are cut from


def parsed_folder(work: Path, name: str, key: str) -> Path:
    """Where a source's parse output for one key lives: a value per key, never one file overwritten per source, so
    edit -> rebuild -> revert -> rebuild reuses the first output instead of the edited one."""
    return work / "parsed" / name / key


# Parsing is pure Python, so two threads of one process parsing at once are slower than one after the other (the
# GIL: 23.8 s against 20.6 s for the seven label-based sources at full size); the threads runner's parse tasks take
# turns while its annotate tasks (engines that release the GIL) go on beside them. Processes and Dask workers each
# have their own lock.
_PARSING = threading.Lock()


def parse_source(name: str, config: SourceConfig, root: Path, seed: int, work: Path, key: str | None = None,
                 evidence: Path | None = None) -> dict:
    """The parse stage for one source (`evidence`: where the annotate stage left a source's evidence)."""
    with _PARSING:
        return _parse_source(name, config, root, seed, work, key, evidence)


def _parse_source(name: str, config: SourceConfig, root: Path, seed: int, work: Path, key: str | None,
                  evidence: Path | None) -> dict:
    adapter = adapter_class(name)(config, root, seed, evidence)
    out = parsed_folder(work, name, key or parse_key(name, config, root, seed, evidence))
    media: set[str] = set()
    # Streamed, drafts and refused records alike: memory does not grow with the source.
    with jsonl_writer(out / "drafts.jsonl") as write, jsonl_writer(out / "quarantine.jsonl") as refuse:
        def sink(draft: ItemDraft) -> None:
            media.add(draft.clip.source_path)
            write(draft)
        result = adapter.parse(sink=sink, quarantine_sink=refuse)
        pools = adapter.pools()
        for entry in result.quarantined:  # refused outside the parse itself (while planning speech, say)
            refuse(entry)
    write_json(out / MEDIA_FILES, sorted(media))
    write_pools(out, name, pools)
    summary = result.summary()
    del summary["quarantine"]  # kept in the file; the returned summary stays small
    summary.update(drafts=str(out / "drafts.jsonl"), quarantine=str(out / "quarantine.jsonl"),
                   annotation_files={name: sha for name, sha in annotation_digests(adapter.annotation_files()).items()
                                     if sha is not None})
    write_json(out / "summary.json", summary)
    touch_and_prune(out)  # an edit undone finds its old output in place
    forget_shared_caches()
    return summary


def missing_media(draft: ItemDraft) -> Quarantined:
    """The quarantine record of a draft whose media file is not under its source's root (select and the media plan
    both check)."""
    return Quarantined.of(draft, "media", "missing media",
                          f"{draft.provenance.original_file}: not found under the source root")


def draft_media(drafts: Path) -> list[str]:
    """The distinct media files a parse output's drafts are cut from (recorded by the parse; read once if older)."""
    listed = drafts.with_name(MEDIA_FILES)
    if listed.exists():
        return json.loads(listed.read_text())
    media = sorted({d.clip.source_path for d in read_jsonl(drafts, ItemDraft)})
    write_json(listed, media)
    return media
