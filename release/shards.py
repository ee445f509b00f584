"""Parquet shards per task and split: zstd, bounded size, row groups sized for readers, HF-style names."""

from __future__ import annotations

from collections.abc import Iterable
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


class ShardWriter:
    """Items added one by one become `<folder>/<split>-NNNNN-of-MMMMM.parquet`: a row group every `row_group_rows`
    items, a new shard once one passes `shard_max_bytes`; shards keep temporary names until `close`. Memory holds
    one row group, however many items pass through."""

    def __init__(self, folder: Path, split: str, cfg: ReleaseConfig, media_root: Path):
        self.folder, self.split, self.cfg, self.media_root = folder, split, cfg, media_root
        self.schema = release_schema(cfg)
        self.pending: list[Item] = []
        self.written: list[Path] = []
        self.writer = self.sink = self.path = None

    def add(self, item: Item) -> None:
        self.pending.append(item)
        if len(self.pending) == self.cfg.row_group_rows:
            self._write_row_group()

    def _write_row_group(self) -> None:
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f".{self.split}-{len(self.written):05d}.parquet.tmp"
            self.sink = pa.OSFile(str(self.path), "wb")
            self.writer = pq.ParquetWriter(self.sink, self.schema, compression="zstd")
        self.writer.write_table(_table(self.pending, self.cfg, self.media_root), row_group_size=self.cfg.row_group_rows)
        self.pending = []
        if self.sink.tell() >= self.cfg.shard_max_bytes:  # bytes written so far (a stat would miss buffered ones)
            self._end_shard()

    def _end_shard(self) -> None:
        self.writer.close()
        self.sink.close()
        self.written.append(self.path)
        self.writer = None

    def close(self) -> list[Path]:
        """Write what is left and give the shards their final names (none for no items)."""
        if self.pending:
            self._write_row_group()
        if self.writer is not None:
            self._end_shard()
        final = []
        for k, tmp in enumerate(self.written):
            target = self.folder / f"{self.split}-{k:05d}-of-{len(self.written):05d}.parquet"
            tmp.rename(target)
            final.append(target)
        return final


def write_shards(items: Iterable[Item], folder: Path, split: str, cfg: ReleaseConfig, media_root: Path) -> list[Path]:
    """Write `<folder>/<split>-NNNNN-of-MMMMM.parquet` (`ShardWriter`)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(folder, split, cfg, media_root)
    for item in items:
        writer.add(item)
    return writer.close()
