"""Reference releases: clips of sources whose licence forbids redistributing media stay out of the release; the
release keeps, per clip, where it comes from (source, file relative to the source root, span, crop, frames) and
what it must be (encoder settings, duration, frame count, a checksum of its decoded content) in
`media_manifest.json`. `humansense media materialize --release DIR --config SOURCES.toml` cuts them from the
user's own copy of the sources into the release layout and checks each against the manifest, so the Parquet
shards, `datasets` and the authors' JSON work as with a files release.

A source's mode: `release.media[source]` if set; else "files" for the embedded synthetic sample; else by
`release.media_mode`: "licence" (the default: files where `sources/facts.py` says media may be redistributed,
reference elsewhere), or "files" / "reference" for every source.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from humansense.config import BuildConfig, MediaConfig, ReleaseConfig
from humansense.ids import safe_join
from humansense.io import write_json
from humansense.media import SAFE_INPUT_ARGS, MediaError, cut_clip, probe, run_ffmpeg_bytes, sha256_file
from humansense.release.manifest import MANIFEST, read_manifest
from humansense.release.shards import MEDIA_INFO, ShardWriter
from humansense.schema import ClipSpec, Item
from humansense.sources.facts import facts

MEDIA_MANIFEST = "media_manifest.json"
DURATION_TOLERANCE_S = 0.05


def media_mode(source: str, config: BuildConfig, sample_sources: list[str]) -> str:
    chosen = config.release.media.get(source)
    if chosen:
        return chosen
    if source in sample_sources:
        return "files"  # our own synthetic fixtures
    if config.release.media_mode != "licence":
        return config.release.media_mode
    return "files" if facts(source).media else "reference"


def decoded_sha256(path: Path, timeout_s: float = 300.0) -> str:
    """A checksum of a clip's decoded frames and samples (not of its container bytes), cached beside the clip."""
    sidecar = path.with_name(path.name + ".decoded-sha256")
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    if sidecar.exists():
        cached = sidecar.read_text().split()
        if len(cached) == 2 and cached[0] == stamp:
            return cached[1]
    out = run_ffmpeg_bytes(["ffmpeg", "-nostdin", "-v", "error", *SAFE_INPUT_ARGS, "-i", str(path), "-map", "0",
                            "-f", "hash", "-hash", "sha256", "-"], timeout_s, f"hashing {path.name}")
    value = out.decode().strip().removeprefix("SHA256=")
    sidecar.write_text(f"{stamp} {value}")
    return value


def manifest_entries(items: list[Item], specs: dict[str, dict], clips_dir: Path, media: MediaConfig,
                     modes: dict[str, str]) -> dict[str, dict]:
    """media path -> its reference entry, for the items of sources in reference mode."""
    entries: dict[str, dict] = {}
    for item in items:
        if modes.get(item.provenance.source) != "reference" or item.media.path in entries:
            continue
        spec = specs.get(item.id)
        if spec is None:
            raise KeyError(f"{item.id}: no clip spec recorded by the augment stage")
        entries[item.media.path] = {
            **spec, "encoder": {"max_height": media.max_height, "crf": media.crf, "preset": media.preset},
            "duration_s": item.media.duration_s, "frame_count": item.media.frame_count}
    # Decoding is one ffmpeg process per clip: as many at once as there are cores (cached clips cost a read).
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        checksums = pool.map(lambda rel: decoded_sha256(clips_dir / Path(rel).name, media.timeout_s), list(entries))
        for rel, checksum in zip(list(entries), checksums):
            entries[rel]["decoded_sha256"] = checksum
    return entries


@dataclass
class Materialized:
    ok: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already in the release, checked
    differs: dict[str, str] = field(default_factory=dict)  # path -> what differs
    failed: dict[str, str] = field(default_factory=dict)  # path -> why it could not be cut
    embedded: int = 0  # rows whose media cell got the clip's bytes
    shards: list[str] = field(default_factory=list)  # Parquet files rewritten with them

    def summary(self) -> dict:
        return {"cut": len(self.ok), "already_present": len(self.present), "differ": self.differs,
                "failed": self.failed, "embedded_rows": self.embedded, "shards_rewritten": len(self.shards)}


def _check(path: Path, entry: dict, timeout_s: float) -> str | None:
    info = probe(path, timeout_s)
    problems = []
    if abs(info.duration_s - entry["duration_s"]) > DURATION_TOLERANCE_S:
        problems.append(f"duration {info.duration_s:.3f} s, expected {entry['duration_s']:.3f} s")
    if entry.get("frame_count") and info.frame_count and info.frame_count != entry["frame_count"]:
        problems.append(f"{info.frame_count} frames, expected {entry['frame_count']}")
    if decoded_sha256(path, timeout_s) != entry["decoded_sha256"]:
        problems.append("decoded content differs (another source file or another ffmpeg build)")
    return "; ".join(problems) or None


def materialize(release: Path, config: BuildConfig, workers: int | None = None,
                on_clip: Callable[[int], None] | None = None) -> Materialized:
    """Cut every referenced clip missing from `release` from the sources `config` points at, and check each;
    `workers` clips at once (default `[media] workers`: each is an ffmpeg cut, a probe and a decode), `on_clip`
    called with the number of clips as each is done (a progress bar)."""
    release = Path(release)
    manifest_file = release / MEDIA_MANIFEST
    if not manifest_file.exists():
        raise FileNotFoundError(f"{manifest_file} does not exist: not a reference release")
    entries: dict[str, dict] = json.loads(manifest_file.read_text(encoding="utf-8"))

    def one(rel: str) -> tuple[str, str | None]:
        try:
            return _materialize_clip(release, rel, entries[rel], config)
        finally:
            if on_clip:
                on_clip(len(entries))

    result = Materialized()
    with ThreadPoolExecutor(max(1, workers or config.media.workers)) as pool:
        for rel, (outcome, why) in zip(sorted(entries), pool.map(one, sorted(entries))):  # the manifest's order
            if outcome == "differs":
                result.differs[rel] = why
            elif outcome == "failed":
                result.failed[rel] = why
            else:
                getattr(result, outcome).append(rel)
    embed_materialized(release, set(result.ok + result.present), config.release, result)
    return result


def embed_materialized(release: Path, checked: set[str], cfg: ReleaseConfig, result: Materialized) -> None:
    """Put the bytes of each checked clip into its rows' media cells (`status` "embedded"), rewriting only the shards
    that hold such a row, each under a temporary name renamed into place; then the release manifest. A clip whose
    bytes differ from the build's (another ffmpeg build) gets its own sha256 in `media_info`."""
    manifest = read_manifest(release)
    for shard in sorted(release.glob("data/*/*.parquet")):
        rows = pq.read_table(shard).to_pylist()
        wanted = [r[MEDIA_INFO]["status"] == "reference" and r[MEDIA_INFO]["path"] in checked for r in rows]
        if not any(wanted):
            continue
        writer = ShardWriter(shard, cfg, release)
        for row, fill in zip(rows, wanted):
            if fill:
                data = (release / row[MEDIA_INFO]["path"]).read_bytes()
                row[row[MEDIA_INFO]["modality"]] = {"bytes": data, "path": Path(row[MEDIA_INFO]["path"]).name}
                row[MEDIA_INFO] |= {"status": "embedded", "bytes": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
                result.embedded += 1
            writer.add_row(row)
        written = writer.close()
        rel = shard.relative_to(release).as_posix()
        manifest[rel] = {"sha256": written.sha256, "bytes": written.bytes}
        result.shards.append(rel)
    for rel in result.ok:
        manifest[rel] = {"sha256": sha256_file(release / rel), "bytes": (release / rel).stat().st_size}
    if result.shards or result.ok:
        write_json(release / MANIFEST, manifest)


def _materialize_clip(release: Path, rel: str, entry: dict, config: BuildConfig) -> tuple[str, str | None]:
    """One clip: ("present" | "ok" | "differs" | "failed", why)."""
    timeout_s = config.media.timeout_s
    target = safe_join(release, rel, "media path")
    if target.exists():
        why = _check(target, entry, timeout_s)
        return ("differs", why) if why else ("present", None)
    root = getattr(config.sources, entry["source"]).root
    if root is None:
        return "failed", f"sources.{entry['source']}.root is not set in the config"
    try:
        source_path = safe_join(Path(root), entry["original_file"], "source file")
        spec = ClipSpec(**entry["spec"], source_path=str(source_path))
        cut_clip(spec, target, timeout_s=timeout_s, **entry["encoder"])  # writes a temp file, then renames
    except (MediaError, ValueError) as e:
        return "failed", getattr(e, "detail", str(e))
    why = _check(target, entry, timeout_s)
    return ("differs", why) if why else ("ok", None)


def write_media_manifest(folder: Path, entries: dict[str, dict]) -> None:
    if entries:
        write_json(folder / MEDIA_MANIFEST, entries)
