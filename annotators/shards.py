"""Annotation as units of work that travel: a shard is one declared step over a few records of one source, named by
paths and ids only (no media, no engine), so any worker that sees the build folder can run it: a thread of the
build, a process of the process pool, a Dask worker on another machine with the same file system.

A shard that finished leaves a marker (`<evidence>/.annotate/<key>.json`, written after its evidence): a build
killed in the middle of annotation runs again only the shards without one. The key is what decides the shard's
evidence: the step and its parameters, the records and their inputs (media fingerprints, text checksums), the
annotators' settings (not where they run, nor the shard size) and the annotators' and the source's code.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from humansense.annotators import registry
from humansense.annotators.steps import AnnotationStep
from humansense.sections import AnnotatorsConfig, SourceConfig
from humansense.ids import digest
from humansense.io import write_json
from humansense.keyed import code_key

MARKERS = ".annotate"  # inside the evidence folder; no source reads it as evidence

# Native runtimes side by side in one process (PaddleOCR, fer's TensorFlow, CTranslate2 in threads of the threads
# runner) crashed it (2026-11-26): shards in one process take turns. A worker of the processes or Dask runners runs
# one shard at a time, so it never waits here; parallel annotation comes from worker processes.
_NATIVE = threading.Lock()


class Shard(BaseModel):
    """One step of one source over `ids`, and where its inputs and outputs live. `adapter` is the source's adapter
    class (a worker imports it by reference when the shard is unpickled there)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    adapter: type
    source_config: SourceConfig
    root: Path
    seed: int
    step: AnnotationStep
    ids: tuple[str, ...]
    evidence: Path
    cache_dir: Path
    annotators: AnnotatorsConfig
    key: str

    @property
    def marker(self) -> Path:
        return self.evidence / MARKERS / f"{self.key}.json"

    @property
    def source(self) -> str:
        return self.adapter.name

    @property
    def needs_gpu(self) -> bool:
        """The config puts one of its engines on a GPU outright: it must run on a worker that has one."""
        return self.step.resources(self.annotators).gpu == "must"

    @property
    def can_use_gpu(self) -> bool:
        """One of its engines may take a GPU ('auto' or a GPU device): a pinned GPU worker suits it best."""
        return self.step.resources(self.annotators).gpu != "no"

    @property
    def label(self) -> str:
        return f"{self.source} {self.step.name} {self.ids[0]}..{self.ids[-1]} ({len(self.ids)})"


@cache  # read once a process: every round plans its shards with it
def code_version() -> str:
    """The annotators' code that writes evidence (the steps and all they import of the annotators' package):
    editing it makes every shard run again."""
    return digest(code_key(__name__, within="humansense.annotators"), length=24)


def annotator_settings(cfg: AnnotatorsConfig) -> dict:
    """The annotators' settings that decide what they write: not where the cache lives, how work is cut into
    shards, nor on which device an engine runs (the same model writes the same answer on CPU and GPU)."""
    settings = cfg.model_dump(mode="json", exclude={"cache_dir", "shard_size"})
    for section in settings.values():
        if isinstance(section, dict):
            section.pop("device", None)
    return settings


def plan_shards(adapter: type, source_config, root: Path, seed: int, steps: list, ids: list[str],
                inputs: dict[str, Any], evidence: Path, cache_dir: Path, cfg: AnnotatorsConfig,
                adapter_code: str) -> list[Shard]:
    """The shards of one round: each declared step over consecutive runs of `shard_size` of `ids` (in the round's
    seeded order). `inputs` names what each record's evidence is made from (by id; "*" for what all records share)."""
    settings = annotator_settings(cfg)
    code, size, shards = code_version(), cfg.shard_size, []
    for step in steps:
        for k in range(0, len(ids), size):
            chunk = tuple(ids[k:k + size])
            key = digest("shard", adapter.name, step.model_dump(mode="json"), chunk, [inputs.get(i) for i in chunk],
                         inputs.get("*"), source_config.model_dump(mode="json", exclude={"root"}),
                         settings, seed, code, adapter_code, length=32)
            shards.append(Shard(adapter=adapter, source_config=source_config, root=root, seed=seed, step=step,
                                ids=chunk, evidence=evidence, cache_dir=cache_dir, annotators=cfg, key=key))
    return shards


def finished(shard: Shard) -> dict | None:
    """The result a finished shard left, if it did (and its marker is whole)."""
    try:
        return json.loads(shard.marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_shard(shard: Shard) -> dict:
    """Run a shard where this is called (a worker): its evidence, then its marker; a finished shard is not run
    again. The result says which process ran it, what that process had loaded and on which devices."""
    done = finished(shard)
    if done is not None:
        return done | {"resumed": True}
    with _NATIVE:
        adapter = shard.adapter(shard.source_config, shard.root, shard.seed)
        units = step_units(adapter, shard.step, shard.ids)
        start = time.perf_counter()
        counts = shard.step.run(adapter, units, shard.evidence, shard.annotators, shard.cache_dir)
        seconds = time.perf_counter() - start
    held = registry.loads()
    held["devices"] = {a: d for a, d in held["devices"].items() if a in shard.step.annotators}  # this step's
    result = {"step": shard.step.name, "ids": list(shard.ids), "records": len(units), "counts": counts,
              "seconds": round(seconds, 3), **held}
    write_json(shard.marker, result)
    return result | {"resumed": False}


def step_units(adapter, step, ids: tuple[str, ...]) -> list:
    """What a step reads for these records, in their order: (id, video) pairs, or the records' speech jobs."""
    wanted = set(ids)
    if step.units == "texts":
        found = {job.id: job for job in adapter.speech_jobs(only=wanted)}
    else:
        found = {video_id: (video_id, path) for video_id, path in adapter.videos() if video_id in wanted}
    return [found[i] for i in ids if i in found]
