"""Small file helpers: atomic writes (temp name, then rename) and typed JSON-lines."""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path: Path, data: object) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def write_jsonl(path: Path, records: Iterable[BaseModel]) -> Path:
    lines = [r.model_dump_json(exclude_none=False) for r in records]
    return write_text_atomic(path, "".join(line + "\n" for line in lines))


@contextmanager
def jsonl_writer(path: Path) -> Iterator[Callable[[BaseModel], None]]:
    """Write records one by one into a temporary file, renamed into place only when all were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            yield lambda record: f.write(record.model_dump_json(exclude_none=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_jsonl(path: Path, model: type[M], only: Container[str] | None = None) -> Iterator[M]:
    """The file's records; with `only`, just those whose `id` is in it. The id is read from the start of the line
    (the first field of the models `write_jsonl` writes, as `{"id":"..."`), so the others cost no parsing: a
    release needs ~2,000 of a full-size tree's ~430,000 drafts."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if only is not None:
                record_id = _leading_id(line)
                if record_id is not None and record_id not in only:
                    continue
                if record_id is None:  # written some other way: parsed, then filtered
                    record = model.model_validate_json(line)
                    if getattr(record, "id", None) in only:
                        yield record
                    continue
            yield model.model_validate_json(line)


def _leading_id(line: str) -> str | None:
    if not line.startswith('{"id":"'):
        return None
    end = line.find('"', 7)
    record_id = line[7:end]
    return record_id if end > 7 and "\\" not in record_id else None


def read_entries(path: Path, convert: Callable[[dict], T], what: str) -> Iterator[T]:
    """A hand-kept JSON-lines file (translation memory, reviews), streamed: each line converted, or ValueError naming
    the file and line (it is people's input, so a typo must be findable)."""
    with open(path, encoding="utf-8") as lines:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = convert(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}, line {n}: not a {what} ({e})") from None
            yield entry
