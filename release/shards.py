"""Parquet shards per task and split: zstd, bounded size, row groups sized for readers, HF-style names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from humansense.config import ReleaseConfig
from humansense.schema import ITEM_ARROW_SCHEMA, Item, items_to_table

MEDIA_BYTES = pa.field("media_bytes", pa.binary())


def release_schema(cfg: ReleaseConfig) -> pa.Schema:
    return ITEM_ARROW_SCHEMA.append(MEDIA_BYTES) if cfg.embed_media else ITEM_ARROW_SCHEMA


def _table(items: list[Item], cfg: ReleaseConfig, media_root: Path) -> pa.Table:
    table = items_to_table(items)
    if cfg.embed_media:
        # A referenced clip (reference release) is not in the release: its bytes are null until materialised.
        table = table.append_column(MEDIA_BYTES, pa.array(
            [(media_root / i.media.path).read_bytes() if (media_root / i.media.path).exists() else None
             for i in items], pa.binary()))
    return table


def write_shards(items: list[Item], folder: Path, split: str, cfg: ReleaseConfig, media_root: Path) -> list[Path]:
    """Write `<folder>/<split>-NNNNN-of-MMMMM.parquet`; a new shard starts once one passes `shard_max_bytes`."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = release_schema(cfg)
    written: list[Path] = []
    writer = sink = path = None
    for start in range(0, len(items), cfg.row_group_rows):
        if writer is None:
            path = folder / f".{split}-{len(written):05d}.parquet.tmp"
            sink = pa.OSFile(str(path), "wb")
            writer = pq.ParquetWriter(sink, schema, compression="zstd")
        writer.write_table(_table(items[start:start + cfg.row_group_rows], cfg, media_root),
                           row_group_size=cfg.row_group_rows)
        if sink.tell() >= cfg.shard_max_bytes:  # bytes written so far (a stat would miss buffered ones)
            writer.close()
            sink.close()
            written.append(path)
            writer = None
    if writer is not None:
        writer.close()
        sink.close()
        written.append(path)
    final = []
    for k, tmp in enumerate(written):
        target = folder / f"{split}-{k:05d}-of-{len(written):05d}.parquet"
        tmp.rename(target)
        final.append(target)
    return final
