"""Parquet shards per task and split, laid out as `datasets` writes them, so that `load_dataset` decodes the media
and the Hub's viewer plays them.

* Media are features: one `audio` column (`datasets.Audio`) and one `video` column (`datasets.Video`), each stored
  as `struct<bytes, path>` with the clip's bytes embedded and `path` its file name. Both columns are in every shard
  (so the `all` config merges the tasks); a row fills the one its modality uses. `media_info` beside them says what
  the clip is (relative path, modality, duration, size, frame size, fps, frame count, sha256) and whether its bytes
  are embedded or only referenced (`status`: a reference release's clips are null until `humansense media
  materialize`). The features are in the schema's `huggingface` metadata.
* Column options as `datasets` chooses them: media uncompressed and PLAIN, the rest zstd; a page index; content-
  defined chunking (so the Hub's storage deduplicates what a rebuild did not change).
* Row groups hold at most `row_group_max_bytes` (about 100 MB, `datasets`' default) and `row_group_rows` rows: the
  viewer reads one row group at a time and refuses more than 300 MB. A clip larger than that is written alone in
  its row group and reported (`Shards.oversized`).
* Items go to shards by a hash of their id, into a power-of-two number of shards sized from the clips' bytes; a
  rebuild that changes one item rewrites only that item's shard (the others stay byte-identical).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from humansense.config import ReleaseConfig
from humansense.schema import ITEM_ARROW_SCHEMA, Item, Media, item_to_row
from humansense.tasks import Modality

AUDIO, VIDEO, MEDIA_INFO = "audio", "video", "media_info"
MEDIA_COLUMNS = (AUDIO, VIDEO)
VIEWER_MAX_READ_BYTES = 300 * 10**6  # the Hub viewer's "Scan size limit exceeded" for one read
ROW_OVERHEAD_BYTES = 2048  # question, options, provenance and annotations of a row, about
MEDIA_INFO_TYPE = pa.struct([
    ("path", pa.string()), ("modality", pa.string()), ("duration_s", pa.float64()), ("bytes", pa.int64()),
    ("width", pa.int64()), ("height", pa.int64()), ("fps", pa.float64()), ("frame_count", pa.int64()),
    ("sha256", pa.string()), ("status", pa.string()),  # "embedded" | "reference"
])


@lru_cache(maxsize=1)
def release_features():
    """The release's `datasets.Features`: the item's columns, with `media` as the two media features and
    `media_info`."""
    from datasets import Audio, Features, Video  # heavy; only publishing and readers need it

    base = Features.from_arrow_schema(ITEM_ARROW_SCHEMA)
    info = Features.from_arrow_schema(pa.schema([(MEDIA_INFO, MEDIA_INFO_TYPE)]))
    columns = {}
    for name, feature in base.items():
        if name == "media":
            columns |= {AUDIO: Audio(), VIDEO: Video(), MEDIA_INFO: info[MEDIA_INFO]}
        else:
            columns[name] = feature
    return Features(columns)


@lru_cache(maxsize=1)
def release_schema() -> pa.Schema:
    features = release_features()
    return features.arrow_schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": features.to_dict()}})})


@lru_cache(maxsize=1)
def _writer_options() -> dict:
    """Per-leaf options as `datasets` sets them, with zstd for the non-media columns."""
    from datasets.arrow_writer import get_parquet_column_options
    from datasets.config import DEFAULT_CDC_OPTIONS

    options = get_parquet_column_options(release_features(), release_schema())
    options["compression"] = {leaf: ("none" if leaf.split(".")[0] in MEDIA_COLUMNS else "zstd")
                              for leaf in options["compression"]}
    return {**options, "use_content_defined_chunking": DEFAULT_CDC_OPTIONS, "write_page_index": True}


def media_row(item: Item, data: bytes | None) -> dict:
    """The item's media cells: the clip's bytes under its modality's column (None for a reference) and
    `media_info`."""
    media = item.media
    cell = {"bytes": data, "path": Path(media.path).name} if data is not None else None
    info = {**media.model_dump(mode="json"), "bytes": len(data) if data is not None else None,
            "status": "embedded" if data is not None else "reference"}
    return {AUDIO: cell if media.modality is Modality.AUDIO else None,
            VIDEO: cell if media.modality is Modality.VIDEO else None, MEDIA_INFO: info}


def release_row(item: Item, data: bytes | None) -> dict:
    """The item as a release row: its fields, with `media` replaced by the media cells (schema order is the
    writer's concern)."""
    row = item_to_row(item)
    row.pop("media")
    return row | media_row(item, data)


def read_item_rows(shard: Path) -> list[dict]:
    """A shard's rows without the media bytes (never read: they are most of the file), as item fields."""
    schema = pq.read_schema(shard)
    columns = [n for n in schema.names if n not in MEDIA_COLUMNS and n != "media_bytes"]
    rows = pq.read_table(shard, columns=columns).to_pylist()
    if MEDIA_INFO in schema.names:
        media_fields = set(Media.model_fields)
        for row in rows:
            row["media"] = {k: v for k, v in row.pop(MEDIA_INFO).items() if k in media_fields}
    return rows


class _HashingSink:
    """A binary file that hashes what is written through it: the manifest needs each shard's sha256, and reading
    the shard back would be a second pass over every clip's bytes."""

    def __init__(self, path: Path):
        self.file = path.open("wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.size += len(view)
        return self.file.write(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        self.closed = True


@dataclass
class ShardFile:
    path: Path
    sha256: str
    bytes: int
    rows: int
    row_groups: list[int]  # bytes of media in each row group


@dataclass
class Shards:
    files: list[ShardFile] = field(default_factory=list)
    oversized: list[str] = field(default_factory=list)  # clips bigger than the viewer reads at once


class ShardWriter:
    """One Parquet file from items added one by one: a row group once `row_group_max_bytes` of media or
    `row_group_rows` rows are pending, so memory holds one row group however many items pass through. The file
    keeps a temporary name until `close` renames it to `path`."""

    def __init__(self, path: Path, cfg: ReleaseConfig, media_root: Path):
        self.path, self.cfg, self.media_root = Path(path), cfg, Path(media_root)
        self.schema = release_schema()
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.pending: list[dict] = []
        self.pending_bytes = 0
        self.row_groups: list[int] = []
        self.rows = 0
        self.oversized: list[str] = []
        self.sink = self.writer = None

    def _clip(self, item: Item) -> bytes | None:
        clip = self.media_root / item.media.path
        # A referenced clip (reference release) is not in the release: its bytes are null until materialised.
        return clip.read_bytes() if self.cfg.embed_media and clip.exists() else None

    def add(self, item: Item) -> None:
        self.add_row(release_row(item, self._clip(item)))

    def add_row(self, row: dict) -> None:
        """A release row as it is (`humansense media materialize` rewrites shards this way)."""
        size = sum(len((row.get(c) or {}).get("bytes") or b"") for c in MEDIA_COLUMNS)
        if self.pending and self.pending_bytes + size > self.cfg.row_group_max_bytes:
            self._write_row_group()
        if size > VIEWER_MAX_READ_BYTES:
            self.oversized.append(row[MEDIA_INFO]["path"])
        self.pending.append(row)
        self.pending_bytes += size
        if len(self.pending) >= self.cfg.row_group_rows or self.pending_bytes >= self.cfg.row_group_max_bytes:
            self._write_row_group()

    def _write_row_group(self) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.sink = _HashingSink(self.tmp)
            self.writer = pq.ParquetWriter(self.sink, self.schema, **_writer_options())
        table = pa.Table.from_pylist(self.pending, schema=self.schema)
        self.writer.write_table(table, row_group_size=len(self.pending))
        self.row_groups.append(self.pending_bytes)
        self.rows += len(self.pending)
        self.pending, self.pending_bytes = [], 0

    def close(self) -> ShardFile | None:
        """Write what is left and give the file its name (None for no items)."""
        if self.pending:
            self._write_row_group()
        if self.writer is None:
            return None
        self.writer.close()
        self.sink.close()
        self.tmp.rename(self.path)
        return ShardFile(self.path, self.sink.sha.hexdigest(), self.sink.size, self.rows, self.row_groups)


def shard_count(total_bytes: int, shard_max_bytes: int) -> int:
    """A power of two that keeps the mean shard at half the bound or less (room for the hash's unevenness)."""
    count = 1
    while total_bytes > count * shard_max_bytes // 2:
        count *= 2
    return count


def shard_of(item_id: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % count


def write_shards(items: Iterable[Item], folder: Path, split: str, cfg: ReleaseConfig, media_root: Path) -> Shards:
    """Write `<folder>/<split>-NNNNN-of-MMMMM.parquet`: each item into the shard its id hashes to."""
    items = list(items)
    sizes = []
    for item in items:
        clip = Path(media_root) / item.media.path
        sizes.append((clip.stat().st_size if cfg.embed_media and clip.exists() else 0) + ROW_OVERHEAD_BYTES)
    count = shard_count(sum(sizes), cfg.shard_max_bytes)
    buckets: dict[int, list[Item]] = {}
    for item in items:
        buckets.setdefault(shard_of(item.id, count), []).append(item)
    result = Shards()
    for k in sorted(buckets):
        writer = ShardWriter(Path(folder) / f"{split}-{k:05d}-of-{count:05d}.parquet", cfg, media_root)
        for item in buckets[k]:
            writer.add(item)
        result.files.append(writer.close())
        result.oversized += writer.oversized
    return result
