"""The annotate stage: a source's records annotated in a seeded order, in rounds, only until selection has what it
needs; each round's work planned as shards (a declared step over a few records, `annotators.shards`) and run by
whatever runs shards: the flow's task runner (threads, processes, a Dask cluster), or this process."""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from humansense.annotators import registry
from humansense.annotators.shards import (MARKERS, Shard, annotator_settings, code_version, finished, plan_shards,
                                          run_shard, step_units)
from humansense.budget import EvenNeed, annotation_needs, answer_class, even_class_needs
from humansense.sections import AnnotatorsConfig
from humansense.evidence import EvidenceFolder
from humansense.ids import digest, is_safe_component, unit_interval
from humansense.io import write_json
from humansense.terminal import STAGES

if TYPE_CHECKING:
    from humansense.annotators.protocol import AnnotatedSource


RunShards = Callable[[list[Shard]], list[dict]]


def run_here(shards: list[Shard]) -> list[dict]:
    """Shards run one after the other in this process (no task runner: tests, a library call)."""
    return [run_shard(shard) for shard in shards]


def gather_evidence(adapter, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                    units: list | None = None) -> dict:
    """Run the steps a source declares (`adapter.annotation_steps()`) over `units` (its videos or speech jobs, from
    `annotation_units`; all of them by default) in this process, with no shards; each step writes
    `<id>.<kind>.json` into `out_dir`, which the adapter then reads as evidence."""
    units = list(annotation_units(adapter).values()) if units is None else units
    ids = tuple(unit[0] if isinstance(unit, tuple) else unit.id for unit in units)
    return {step.name: step.run(adapter, step_units(adapter, step, ids), out_dir, cfg, cache_dir)
            for step in adapter.annotation_steps()}


def sharded_gather(adapter, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path, inputs: dict,
                   run_shards: RunShards, refresh: bool = False, ledger: dict | None = None):
    """A round's gather through shards: plan the round's shards, hand those not finished before (all of them with
    `refresh`) to `run_shards`, and add up their counts per step. `ledger` collects what ran where."""
    ledger = {} if ledger is None else ledger
    steps, code = adapter.annotation_steps(), adapter.code_version()

    def gather(units: list) -> dict:
        ids = [unit[0] if isinstance(unit, tuple) else unit.id for unit in units]
        shards = plan_shards(type(adapter), adapter.config, adapter.root, adapter.seed, steps, ids, inputs, out_dir,
                             cache_dir, cfg, code)
        done = {} if refresh else {s.key: r for s in shards if (r := finished(s)) is not None}
        results = dict(done) | dict(zip((s.key for s in shards if s.key not in done),
                                        run_shards([s for s in shards if s.key not in done])))
        totals: dict = {}
        for shard in shards:
            result = results[shard.key]
            totals = _added(totals, {shard.step.name: result["counts"]})
            _log_shard(ledger, result, resumed=shard.key in done or result.get("resumed", False))
        return totals

    return gather


def _log_shard(ledger: dict, result: dict, resumed: bool) -> None:
    ledger["total"] = ledger.get("total", 0) + 1
    if resumed:
        ledger["resumed"] = ledger.get("resumed", 0) + 1
        return
    ledger["ran"] = ledger.get("ran", 0) + 1
    worker = ledger.setdefault("workers", {}).setdefault(str(result.get("pid")), {"shards": 0, "seconds": 0.0})
    worker["shards"] += 1
    worker["seconds"] = round(worker["seconds"] + result.get("seconds", 0.0), 3)
    worker["loads"] = result.get("loads", {})
    ledger.setdefault("devices", {}).update(result.get("devices", {}))


class SpeechUnit(NamedTuple):
    """A text to be spoken, as the annotate stage orders it: its job (texts, wrong options) is made again only when
    a round takes it, so the listing does not hold every text of the source."""

    id: str
    answer_class: str | None


def annotation_units(adapter) -> dict:
    """What the annotate stage works through, by record id: (id, video) pairs, or the texts to speak (`SpeechUnit`).
    Listed once per stage: for a text source each job needs the record planned. A record whose id could not name
    an evidence file (a video file named `a b;c.mp4`) is left out here and quarantined by the parse ("unsafe id")."""
    if any(step.units == "texts" for step in adapter.annotation_steps()):
        units = {j.id: SpeechUnit(j.id, j.answer_class) for j in adapter.speech_jobs()}
    else:
        units = {video[0]: video for video in adapter.videos()}
    return {u: unit for u, unit in units.items() if is_safe_component(u)}


def _added(total: dict, more: dict) -> dict:
    """Counts of two rounds added up (nested dicts key by key; other values: the latest)."""
    out = dict(total)
    for k, v in more.items():
        if isinstance(v, dict):
            out[k] = _added(total.get(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(total.get(k), (int, float)):
            out[k] = total[k] + v
        else:
            out[k] = v
    return out


def annotate_order(by_id: dict, seed: int, source: str) -> list[str]:
    """Record ids in a seeded order. Where a unit knows its answer's class before annotation (`answer_class`: FG's
    fraud type), the classes take turns in that order, so the records annotated first are as even across classes
    as the source allows: two thirds of the fraud texts are one class, and an eval drawn from a skewed sample lets
    "the most frequent answer" score far above chance."""
    ranked = sorted(by_id, key=lambda u: (unit_interval(seed, "annotate", source, u), u))
    classes = {u: getattr(by_id[u], "answer_class", None) for u in ranked}
    if all(c is None for c in classes.values()):
        return ranked
    queues: dict[str, deque] = defaultdict(deque)
    for u in ranked:
        queues[str(classes[u])].append(u)
    turns = sorted(queues, key=lambda c: (unit_interval(seed, "annotate class", source, c), c))
    order: list[str] = []
    while len(order) < len(ranked):
        order += [queues[c].popleft() for c in turns if queues[c]]
    return order


GIVE_UP_AFTER = 20  # records annotated without a single draft of a task before the task is given up


def class_supply(drafts: Counter, per_group: int) -> Counter:
    """Eval questions each answer class could give, from drafts counted per (class, group): at most `per_group` from
    one group, as selection takes them (a conversation whose listener always looks sad gives one sad question)."""
    supply: Counter = Counter()
    for (answer, _group), n in drafts.items():
        supply[answer] += min(n, per_group)
    return supply


def uneven_classes(supply: Counter, need: int) -> dict[str, int]:
    """The classes found that cannot give their even share of `need` eval drafts (`ceil(need / classes found)`),
    with how many each lacks. Classes never found are not asked for."""
    found = [c for c, n in supply.items() if n > 0]
    if not found:
        return {}
    share = math.ceil(need / len(found))
    return {c: share - supply[c] for c in sorted(found) if supply[c] < share}


def annotate_needed(adapter, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path, need: dict[str, int] | None,
                    seed: int, count_drafts, even: dict[str, EvenNeed] | None = None, even_factor: float = 1.0,
                    gather: Callable[[list], dict] | None = None) -> dict:
    """Annotate a source's records in a seeded order, in rounds, until its drafts meet `need` (task -> drafts),
    never all records unless they are all needed; `need=None` annotates every record.

    The first round takes the fewest records that could meet `need` (`adapter.most_drafts_per_record`: a RealTalk
    conversation gives up to three TR items, so 375 TR drafts start from 125 conversations, not 375). After each
    round `count_drafts(ids)` parses the records just annotated (task -> Counter of (answer class, group)), added to
    the rounds before (a round's count costs its records, not a parse of the whole source); the next
    round is sized from the yield so far (drafts per record), with a fifth more for luck, and at most as many records
    as are done already (a yield read off a few records can be far off). A task that has given no draft at all from
    `GIVE_UP_AFTER` records (or all of them) is given up (`gave_up`: RR when the LLM scores every transcript
    neutral), so one barren task does not annotate the whole source.

    `even` (task -> eval drafts and the most one group may give) asks more of tasks whose answers are classes: once
    `need` is met, rounds go on until each class found could give its even share of those drafts (`class_supply`,
    `uneven_classes`; ES's listeners are mostly happy, and an eval drawn from a skewed pool lets "the most frequent
    answer" win), sized by each short class's own yield, up to `even_factor` times the records that met `need`; what
    is still uneven then is reported (`uneven`), and selection evens eval as far as the pool allows.
    The evidence folder's manifest (`annotated.json`) lists the records processed, so the parse skips the others
    (counted as not annotated, not quarantined)."""
    by_id = annotation_units(adapter)
    units = annotate_order(by_id, seed, adapter.name)
    evidence = EvidenceFolder(out_dir)
    gather = gather or (lambda chosen: gather_evidence(adapter, out_dir, cfg, cache_dir, chosen))
    if need is None:
        totals = gather([by_id[u] for u in units])
        evidence.write_manifest(units, [])
        return totals | {"records": len(units), "annotated": len(units), "rounds": 1}
    even = even or {}
    done: list[str] = []
    totals: dict = {}
    batch = max([1] + [math.ceil(n / max(1, adapter.most_drafts_per_record(t))) for t, n in need.items()])
    rounds, counts, drafts, supply, gave_up, uneven = 0, {}, {}, {}, {}, {}
    even_limit: int | None = None  # records the evening may reach, once `need` is met
    while len(done) < len(units):
        chosen = units[len(done):len(done) + batch]
        STAGES.info("%s: annotate round %d, %d records (%d of %d done)", adapter.name, rounds + 1, len(chosen),
                    len(done), len(units))
        totals = _added(totals, gather([by_id[u] for u in chosen]))
        done += chosen
        rounds += 1
        evidence.write_manifest(done, units[len(done):])
        for task, found in count_drafts(chosen).items():  # a record's drafts depend on its own evidence alone
            drafts[task] = drafts.get(task, Counter()) + found
        counts = {t: sum(c.values()) for t, c in drafts.items()}
        STAGES.info("%s: drafts %s", adapter.name, ", ".join(f"{t} {counts.get(t, 0)} of {n}" for t, n in need.items()))
        short = {t: n - counts.get(t, 0) for t, n in need.items() if counts.get(t, 0) < n and t not in gave_up}
        if len(done) >= GIVE_UP_AFTER:
            gave_up |= {t: len(done) for t in short if counts.get(t, 0) == 0}
            short = {t: n for t, n in short.items() if t not in gave_up}
        per_record = lambda n: max(n / len(done), 1 / len(done))  # noqa: E731
        wanted = [short[t] / per_record(counts.get(t, 0)) for t in short]  # records each short task still wants
        supply = {t: class_supply(drafts.get(t, Counter()), n.per_group) for t, n in even.items()}
        uneven = {t: lacking for t, n in even.items() if t not in gave_up
                  and (lacking := uneven_classes(supply[t], n.drafts))}
        if not short:
            even_limit = even_limit or math.ceil(len(done) * even_factor)
            if not uneven or len(done) >= even_limit:
                break
            wanted += [k / per_record(supply[t][c]) for t, lacks in uneven.items() for c, k in lacks.items()]
        batch = max(1, min(len(done), math.ceil(max(wanted) * 1.2)))
        if even_limit is not None:
            batch = min(batch, even_limit - len(done))
    return totals | {"records": len(units), "annotated": len(done), "rounds": rounds, "drafts": counts,
                     "need": need, "gave_up": gave_up,
                     **({"class_supply": {t: dict(sorted(c.items())) for t, c in supply.items()}, "uneven": uneven}
                        if even else {})}


STAGE_RECORD = "stage.json"  # the stage's key and counts, beside the shard markers


def annotate_source(adapter_class: type[AnnotatedSource], source_config, root: Path, evidence: Path, config,
                    cache_dir: Path, run_shards: RunShards = run_here, refresh: bool = False) -> dict:
    """The annotate stage for one source made from annotations (`adapter_class`, which the flow looks up: this stage
    knows no source by name): only as many records as selection will need (`humansense.budget`), each round's
    shards handed to `run_shards`. A stage whose key is unchanged and whose evidence is there is not run again
    (`cached`); one killed midway runs only the shards that had not finished."""
    adapter = adapter_class(source_config, root, config.seed)
    name = adapter.name
    key = annotate_key(adapter, config, inputs := record_inputs(adapter))
    record = evidence / MARKERS / STAGE_RECORD
    folder = EvidenceFolder(evidence)
    stored = _stage_record(record) if not refresh and folder.manifest_file.exists() else None
    if stored is not None and stored.get("key") == key:
        return stored["counts"] | {"cached": True}
    counter = adapter_class(source_config, root, config.seed, evidence)  # kept across rounds: pools read once

    def count_drafts(ids: list[str]) -> dict[str, Counter]:
        drafts: dict[str, Counter] = defaultdict(Counter)
        counter.parse(sink=lambda draft: drafts[draft.task].update(
            [(answer_class(draft.answers), draft.provenance.group_key)]), only=ids)
        return dict(drafts)

    ledger: dict = {}
    llm = next((registry.llm_description(config.annotators) for step in adapter.annotation_steps()
                if "llm" in step.annotators), None)
    if llm:
        STAGES.info("%s: LLM %s", name, llm)
    gather = sharded_gather(adapter, evidence, config.annotators, cache_dir, inputs, run_shards, refresh, ledger)
    start = time.perf_counter()
    budget = config.annotation_budget
    counts = annotate_needed(adapter, evidence, config.annotators, cache_dir,
                             annotation_needs(adapter.tasks, config.split, budget), config.seed, count_drafts,
                             even_class_needs(adapter.tasks, config.split, budget), budget.even_factor, gather=gather)
    counts |= {"seconds": round(time.perf_counter() - start, 1), "shards": ledger} | ({"llm": llm} if llm else {})
    write_json(record, {"key": key, "counts": counts})
    return counts | {"cached": False}


def _stage_record(path: Path) -> dict | None:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("counts"), dict) else None


def record_inputs(adapter) -> dict[str, str]:
    """What each record's evidence is made from, by record id (a video's fingerprint), and under "*" what all
    records share (a text source's corpus checksums, the hand-kept reviews, the translation memory)."""
    from humansense.media import fingerprint, sha256_file

    shared = [adapter.translation_memory()]
    if any(step.units == "texts" for step in adapter.annotation_steps()):
        inputs, shared = {}, shared + [f for f in adapter.source_files() if f.is_file()]
    else:
        inputs = {video_id: fingerprint(path) for video_id, path in adapter.videos()}
    shared += adapter.hand_kept_files()
    return inputs | {"*": digest({p.name: sha256_file(p) for p in shared if p is not None and p.is_file()})}


def annotate_key(adapter: AnnotatedSource, config, inputs: dict[str, str] | None = None) -> str:
    """What decides a source's evidence: its media (fingerprints) or texts (checksums), the hand-kept files beside
    them, the annotators' settings and code, what selection needs and the seed. A rebuild with the same key reuses
    the evidence without decoding a frame (the shards' markers would hit too, but only after planning each round)."""
    budget = config.annotation_budget
    inputs = record_inputs(adapter) if inputs is None else inputs
    return digest(adapter.name, inputs, adapter.config.model_dump(mode="json", exclude={"root"}),
                  annotator_settings(config.annotators),
                  annotation_needs(adapter.tasks, config.split, budget),
                  even_class_needs(adapter.tasks, config.split, budget), budget.even_factor, config.seed,
                  adapter.code_version(), inspect.getsource(sys.modules[__name__]), code_version(), length=32)
