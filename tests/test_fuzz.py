"""Hostile input (`pytest -m faults`): property-based fuzzing of every source's annotation parser and of the clip
cutter. Each source's published files (from the embedded sample, in the real formats) are mutated by hypothesis:
fields replaced by path-like ids, NUL bytes, huge strings, NaN/negative/enormous numbers, lines truncated, the file
cut short, re-encoded or emptied. Every case must end as drafts or clear quarantine entries: no exception escapes,
no clip points outside the source's folder, no span is NaN, negative or reversed, nothing is written elsewhere."""

from __future__ import annotations

import gzip
import json
import math
import os
import pickle
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humansense.config import SourcesConfig
from humansense.sources import adapter_class

pytestmark = pytest.mark.faults
SOURCES = list(SourcesConfig.model_fields)
EXAMPLES = int(os.environ.get("HUMANSENSE_FUZZ_EXAMPLES", "100"))  # per source; raise it for a longer campaign
HOSTILE_TEXT = ["../../escape", "/etc/passwd", "..", "a/../../b", "x\x00y", "", " ", "NaN", "nan", "-1", "-1e9",
                "1e308", "inf", "9" * 400, "\u202e\u0644", "\U0001F600", "A" * 200_000, "null", "[]", "{}", ";", ","]
HOSTILE_VALUES = st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from([math.nan, math.inf, -1, -1e9, 1e308, 0, None,
                                                                          [], {}, True]),
                           st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**63, 2**63),
                           st.text(max_size=40))


def annotation_files(name: str, root: Path) -> list[Path]:
    patterns = list(adapter_class(name).published_files) + {"realtalk": ["emoca/*.pkl"],
                                                            "telecom_fraud": ["translations.en.jsonl"]}.get(name, [])
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _leaves(v, (*path, k))
    yield path


def _set(node, path, value):
    for k in path[:-1]:
        node = node[k]
    if isinstance(node, dict) and value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = None if value is _DELETE else value


_DELETE = object()


def mutate_json(data: bytes, draw) -> bytes:
    doc = json.loads(data)
    leaves = [p for p in _leaves(doc) if p]
    for _ in range(draw(st.integers(1, 4))):
        if leaves:
            _set(doc, draw(st.sampled_from(leaves)), draw(st.one_of(HOSTILE_VALUES, st.just(_DELETE))))
            leaves = [p for p in _leaves(doc) if p]
    return json.dumps(doc, allow_nan=True).encode()  # NaN and Infinity, as careless writers emit them


def mutate_lines(text: str, draw) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        k = draw(st.integers(0, len(lines) - 1))
        sep = ";" if ";" in lines[k] else "," if "," in lines[k] else " "
        fields = lines[k].split(sep)
        how = draw(st.sampled_from(["field", "field", "truncate", "duplicate", "drop", "extra"]))
        if how == "field":
            fields[draw(st.integers(0, len(fields) - 1))] = str(draw(HOSTILE_VALUES))
            lines[k] = sep.join(fields)
        elif how == "truncate":
            lines[k] = lines[k][: draw(st.integers(0, len(lines[k])))]
        elif how == "duplicate":
            lines.insert(k, lines[k])
        elif how == "drop":
            del lines[k]
        else:
            lines[k] += sep + str(draw(HOSTILE_VALUES))
    return "\n".join(lines) + "\n"


def mutate(path: Path, draw) -> bytes:
    data = path.read_bytes()
    whole = draw(st.sampled_from(["content"] * 6 + ["empty", "cut", "encoding", "nul", "garbage"]))
    if whole == "empty":
        return b""
    if whole == "cut":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if whole == "nul":
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\x00" * draw(st.integers(1, 64)) + data[at:]
    if whole == "garbage":
        return draw(st.binary(min_size=1, max_size=2048))
    if path.suffix == ".pkl":  # a pickle that would run code if it were trusted
        return pickle.dumps(os.system) if whole == "content" else data
    if path.suffix == ".gz":
        return gzip.compress(mutate_lines(gzip.decompress(data).decode("utf-8"), draw).encode("utf-8"))
    text = data.decode("utf-8-sig", errors="replace")
    if whole == "encoding":
        return text.encode(draw(st.sampled_from(["utf-16", "gb18030", "latin-1", "utf-8-sig"])), errors="replace")
    if path.suffix == ".json":
        try:
            return mutate_json(data, draw)
        except ValueError:
            pass
    return mutate_lines(text, draw).encode("utf-8")


@pytest.mark.parametrize("name", SOURCES)
def test_hostile_annotations_end_as_drafts_or_clear_quarantine(name: str, sample_roots, tmp_path_factory):
    original = sample_roots[name]
    files = annotation_files(name, original)
    assert files, f"{name}: no annotation files to fuzz in the sample"
    outside_before = set(original.parent.iterdir())
    outcomes = {"cases": 0, "drafts": 0, "quarantined": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def case(data):
        root = tmp_path_factory.mktemp(f"fuzz-{name}")
        shutil.rmtree(root)
        shutil.copytree(original, root, copy_function=os.link)  # media hard-linked: cheap, inside the root
        for path in data.draw(st.lists(st.sampled_from(files), min_size=1, max_size=2, unique=True)):
            target = root / path.relative_to(original)
            content = mutate(target, data.draw)
            target.unlink()  # never write through the hard link into the shared sample
            target.write_bytes(content)
        config = getattr(SourcesConfig(), name).model_copy(update={"root": root})
        result = adapter_class(name)(config, root, 2026).parse()
        outcomes["cases"] += 1
        outcomes["drafts"] += len(result.drafts)
        outcomes["quarantined"] += len(result.quarantined)
        for q in result.quarantined:
            assert q.reason and q.detail and (q.file or q.record_id), q
        resolved_root = root.resolve()
        for draft in result.drafts:
            source = Path(draft.clip.source_path).resolve()
            assert source == resolved_root or resolved_root in source.parents, (draft.id, draft.clip.source_path)
            for t in (draft.clip.start_s, draft.clip.end_s, draft.provenance.start_s, draft.provenance.end_s):
                assert t is None or (math.isfinite(t) and t >= 0), (draft.id, t)
            if draft.clip.start_s is not None and draft.clip.end_s is not None:
                assert draft.clip.end_s > draft.clip.start_s, draft.id
        shutil.rmtree(root)

    case()
    assert set(original.parent.iterdir()) == outside_before  # nothing written beside the sources
    print(f"fuzz {name}: {outcomes['cases']} cases, {outcomes['drafts']} drafts, "
          f"{outcomes['quarantined']} quarantine entries, no crash")
