"""The augment stage: drafts with cut clips become finished questions.

Per draft: wrong options (paraphrase and length rules) and a template; per task and split: answer letters
balanced across items; across the set: duplicates (same task, same clip, same answers) dropped with a note.
Every choice is seeded by (build seed, item id), so the same inputs and seed give byte-identical items.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from humansense.augment.options import (OptionError, answer_slots, arrange, assign_answer_positions,
                                        wrong_options_for)
from humansense.augment.spill import RUN_BYTES, RecordSet, TaskSpill, gc_paused
from humansense.augment.templates import load_templates, templates_text
from humansense.sections import AugmentConfig
from humansense.faults import checkpoint
from humansense.ids import digest, seeded_rng
from humansense.io import jsonl_writer, read_jsonl, write_json, write_jsonl, write_text_atomic
from humansense.keyed import code_key, stat_signature, touch_and_prune
from humansense.media import MediaError, sha256_file
from humansense.clips.stage import CLIP_SPECS, clip_paths, clip_spec_record, media_for
from humansense.selection.select import Selection, keep_best_ranked
from humansense.schema import LETTERS, Item, ItemDraft, Media, Option, Quarantined, normalise_text
from humansense.sources.pools import Pools
from humansense.stages import KeyedStage
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind, task


@dataclass(frozen=True)
class Ready:
    draft: ItemDraft
    media: Media
    clip: str
    wrong: list[str]


def count_answers(counts: dict[tuple[str, str], Counter], draft: ItemDraft, split: str) -> None:
    """Per task and split, how often each (normalised) answer text is an answer: the weights wrong options are
    drawn by (per split, as eval's classes are evened out by selection and train's are not)."""
    counts[(draft.task, split)].update(normalise_text(a) for a in draft.answers)


def options_key(item_id: str, answers: Iterable[str]) -> str:
    """The ledger keeps wrong options per item and answer: an answer edited and then restored gets its first
    options back (and with them its content hash and QC verdict), not the ones chosen for the edit."""
    return item_id + "|" + "|".join(sorted(normalise_text(a) for a in answers))


def still_valid(draft: ItemDraft, wrong: list[str] | None) -> list[str] | None:
    """The previous build's wrong options of a draft, when they still fit it (right number, none an answer now)."""
    if not wrong:
        return None
    answers = {normalise_text(a) for a in draft.answers}
    wanted = task(draft.task).options - answer_slots(draft)
    if len(wrong) != wanted or any(normalise_text(w) in answers for w in wrong):
        return None
    return list(wrong)


def make_item(ready: Ready, positions: tuple[int, ...], seed: int, split: str = "unassigned") -> Item:
    draft = ready.draft
    spec = task(draft.task)
    templates = load_templates().get(draft.task)
    if templates is None:
        raise OptionError("no templates", f"{draft.id}: no question templates for task {draft.task}")
    template_id = seeded_rng(seed, draft.id, "template").choice(sorted(templates.templates))
    texts, answer = arrange(draft, ready.wrong, positions, seed)
    return Item(
        id=draft.id, task=draft.task, level=spec.level, modality=spec.modality, kind=spec.kind,
        question_pattern=QUESTION_PATTERN[spec.kind],
        question=templates.render(template_id, draft.template_vars),
        options=[Option(letter=LETTERS[i], text=t) for i, t in enumerate(texts)],
        answer=answer, media=ready.media, provenance=draft.provenance, template_id=template_id,
        annotations=draft.annotations, split=split)


@dataclass
class _Context:
    """What one augment run knows once every draft has been read: the seeded choices' inputs."""

    seed: int
    cfg: AugmentConfig
    splits: dict[str, str]
    pools: Pools | None
    selection: Selection | None
    pinned: dict[str, tuple[int, ...]]
    kept_options: dict[str, list[str]]
    weights: dict[tuple[str, str], Counter]
    train_records: RecordSet


def augment_stream(pairs: Iterable[tuple[ItemDraft, Media, str]], seed: int, cfg: AugmentConfig,
                   sink: Callable[[Item], None], splits: dict[str, str] | None = None, pools: Pools | None = None,
                   selection: Selection | None = None, pinned: dict[str, tuple[int, ...]] | None = None,
                   kept_options: dict[str, list[str]] | None = None, spill_dir: Path | None = None,
                   ) -> list[Quarantined]:
    """(draft, media, clip key) triples -> items to `sink`, task by task in id order, balanced per task and split;
    refused drafts are returned as quarantine entries. With a selection, eval keeps each task's `target`
    best-ranked survivors (the unused reserve is left out); `pinned` answer positions and `kept_options` wrong options
    (the ledger of the previous build) are kept.

    The drafts are read once and spilled to disk per task (`spill_dir`, a temporary folder by default); memory holds
    the answer counts, the train records' hashes and one task's ids, so it does not grow with the drafts' size."""
    splits = selection.split if selection is not None else (splits or {})
    ctx = _Context(seed, cfg, splits, pools, selection, pinned or {}, kept_options or {}, defaultdict(Counter),
                   RecordSet())
    quarantined: list[Quarantined] = []
    with gc_paused(), tempfile.TemporaryDirectory(dir=spill_dir, prefix=".augment-") as tmp:
        spill = TaskSpill(Path(tmp), RUN_BYTES)
        for draft, media, clip in pairs:
            split = splits.get(draft.id, "unassigned")
            count_answers(ctx.weights, draft, split)
            if split == "train":
                ctx.train_records.add(draft.provenance.record_id)
            # Pickled, not JSON: the drafts were validated when read, and the spill is this process's own file.
            spill.add(draft.task, draft.id, pickle.dumps((draft, media, clip), protocol=pickle.HIGHEST_PROTOCOL))
        order = {t: k for k, t in enumerate(TASKS)}
        for abbr in sorted(spill.tasks(), key=lambda t: (order.get(t, len(order)), t)):
            quarantined += _augment_task(abbr, spill, ctx, sink, Path(tmp))
            spill.drop(abbr)
    return quarantined


def _augment_task(abbr: str, spill: TaskSpill, ctx: _Context, sink: Callable[[Item], None],
                  tmp: Path) -> list[Quarantined]:
    """One task: wrong options per draft (first pass, duplicates and refusals quarantined), then letters balanced
    per split over the survivors, then the items (second pass, in id order)."""
    quarantined: list[Quarantined] = []
    seen: dict[str, str] = {}  # digest of (clip, answers) -> the first draft with them
    survivors: list[tuple[str, str, int]] = []  # (id, split, answer places), in id order
    labels = task(abbr).label_options  # labels are weighted by answer counts; free text is not
    wrong_file = tmp / f"{abbr}.wrong.jsonl"
    # A task that fits in RUN_BYTES keeps its drafts from the first pass for the second; a larger one reads them
    # from the spill again with the wrong options written aside, so memory stays bounded either way.
    held: list[Ready] | None = []
    held_bytes = 0
    with wrong_file.open("w", encoding="utf-8") as wrong_out:
        for record in spill.read(abbr):
            draft, media, clip = pickle.loads(record)
            held_bytes += len(record)
            key = digest(clip, sorted({normalise_text(a) for a in draft.answers}))
            if key in seen:
                quarantined.append(Quarantined.of(draft, "augment", "duplicate item",
                                                  f"{draft.id}: same task, clip and answer as {seen[key]}"))
                continue
            seen[key] = draft.id
            split = ctx.splits.get(draft.id, "unassigned")
            try:
                wrong = still_valid(draft, ctx.kept_options.get(options_key(draft.id, draft.answers))) or \
                    wrong_options_for(draft, ctx.seed, ctx.cfg, ctx.pools,
                                      ctx.weights.get((draft.task, split)) if labels else None,
                                      excluded=ctx.train_records if split != "train" and not labels else ())
            except OptionError as e:
                quarantined.append(Quarantined.of(draft, "augment", e.reason, str(e)))
                continue
            survivors.append((draft.id, split, answer_slots(draft)))
            wrong_out.write(json.dumps([draft.id, wrong]) + "\n")
            held = held if held is not None and held_bytes <= RUN_BYTES else None
            if held is not None:
                held.append(Ready(draft, media, clip, wrong))
    del seen
    if ctx.selection is not None:
        keep = keep_best_ranked({abbr: [i for i, split, _ in survivors if split != "train"]}, ctx.selection)
        survivors = [s for s in survivors if s[1] == "train" or s[0] in keep]
    # Letters are balanced over the drafts that will certainly become items, so refusals cannot unbalance them.
    by_split: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for draft_id, split, places in survivors:
        by_split[split].append((draft_id, places))
    del survivors
    positions: dict[str, tuple[int, ...]] = {}
    for members in by_split.values():
        positions |= assign_answer_positions(members, task(abbr).options, ctx.seed, ctx.pinned)
    del by_split
    for ready in held if held is not None else _spilled_ready(spill.read(abbr), wrong_file):
        if ready.draft.id in positions:
            sink(make_item(ready, positions[ready.draft.id], ctx.seed, ctx.splits.get(ready.draft.id, "unassigned")))
    wrong_file.unlink()
    return quarantined


def _spilled_ready(records: Iterable[bytes], wrong_file: Path) -> Iterator[Ready]:
    """The spilled drafts joined with their wrong options (duplicates and refused drafts have none: skipped)."""
    with wrong_file.open(encoding="utf-8") as wrong_in:
        wrong_of = (json.loads(row) for row in wrong_in)
        next_wrong = next(wrong_of, None)
        for record in records:
            draft, media, clip = pickle.loads(record)
            if next_wrong is None or next_wrong[0] != draft.id:
                continue
            yield Ready(draft, media, clip, next_wrong[1])
            next_wrong = next(wrong_of, None)


def augment_drafts(pairs: Iterable[tuple[ItemDraft, Media, str]], seed: int, cfg: AugmentConfig,
                   splits: dict[str, str] | None = None, pools: Pools | None = None,
                   selection: Selection | None = None,
                   pinned: dict[str, tuple[int, ...]] | None = None,
                   kept_options: dict[str, list[str]] | None = None) -> tuple[list[Item], list[Quarantined]]:
    """`augment_stream` into a list: the items (in task order, then id) and the refused drafts."""
    items: list[Item] = []
    quarantined = augment_stream(pairs, seed, cfg, items.append, splits, pools, selection, pinned, kept_options)
    return items, quarantined


def selected_pairs(draft_files: list[Path], clip_of: dict[str, str], clips_dir: Path, quarantined: list[Quarantined],
                   specs: dict[str, dict] | None = None) -> Iterator[tuple[ItemDraft, Media, str]]:
    """The drafts that have a planned clip, each with its cut clip; a clip that failed is quarantined instead."""
    for path in draft_files:
        for draft in read_jsonl(path, ItemDraft, only=clip_of):
            checkpoint("augment")
            key = clip_of.get(draft.id)
            if key is None:  # not selected, or already quarantined by the media plan (missing source file)
                continue
            try:
                media = media_for(draft, key, clips_dir)
            except MediaError as e:
                quarantined.append(Quarantined.of(draft, "media", e.reason, e.detail))
                continue
            if specs is not None:  # where the clip came from, for reference releases
                specs[draft.id] = clip_spec_record(draft.provenance.source, draft.provenance.original_file,
                                                   draft.clip)
            yield draft, media, key


def positions_of(item: Item) -> tuple[int, ...]:
    """Where an item's answers sit among its options (for a count: the truth's place among the candidates)."""
    if item.kind is Kind.NUMERAL:
        return (next(k for k, o in enumerate(item.options) if o.text == item.answer),)
    return tuple(LETTERS.index(letter) for letter in item.answer)


def wrong_texts(item: Item) -> list[str]:
    """An item's wrong options, in option order."""
    right = set(positions_of(item))
    return [o.text for k, o in enumerate(item.options) if k not in right]


def read_ledger(path: Path, seed: int) -> tuple[dict[str, tuple[int, ...]], dict[str, list[str]]]:
    """The answer positions and wrong options of the previous builds with this seed (none for another seed or no
    previous build)."""
    if not path.is_file():
        return {}, {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("seed") != seed:
        return {}, {}
    return {k: tuple(v) for k, v in data["positions"].items()}, data.get("options", {})


class ItemTally:
    """What the report says of the items, counted one item at a time as they are written: answer letters per task
    and split, and where the answer's length ranks among the options per task."""

    def __init__(self) -> None:
        self.letters: dict[str, list[int]] = {}
        self.length_ranks: dict[str, dict] = {}

    def add(self, i: Item) -> None:
        if i.kind is Kind.NUMERAL:  # counts (HC) are answered with a digit: no letters, no length to give away
            return
        row = self.letters.setdefault(f"{i.task}/{i.split}", [0] * max(len(i.options), 1))
        for p in positions_of(i):
            row[p] += 1
        if len(i.answer_texts()) != 1:
            return
        truth = len(i.answer_texts()[0])
        ranks = self.length_ranks.setdefault(i.task, {"by_rank": [0] * len(i.options), "equal_length": 0})
        lengths = [len(o.text) for o in i.options]
        if lengths.count(truth) > 1:
            ranks["equal_length"] += 1
        else:
            ranks["by_rank"][sum(n < truth for n in lengths)] += 1

    def letter_spread(self) -> dict[str, int]:
        return {k: max(v) - min(v) for k, v in sorted(self.letters.items())}


def tally(items: Iterable[Item]) -> ItemTally:
    counted = ItemTally()
    for i in items:
        counted.add(i)
    return counted


def letter_balance(items: Iterable[Item]) -> dict[str, int]:
    """Per "task/split" of the lettered tasks: the gap between the most and the least used answer letter (0 or 1 on
    a fresh build). Counts (HC) are answered with a digit, so they have no letters to balance here."""
    return tally(items).letter_spread()


AUGMENTED, LEDGER_WRITTEN = "augmented.jsonl", "ledger.sha256"


def augment_key(draft_files: list[Path], clip_of: Path, clips_dir: Path, selection: Path, seed: int,
                cfg: AugmentConfig) -> str:
    """What decides the items: the parse outputs, the selection and the media plan (folders keyed by content), the
    state of each planned clip's result (a clip cut or recut since changes its item), the seed, the settings, and
    this code with its templates. The ledger is checked apart (`augment_done`): it is also this stage's output."""
    results = [(k, stat_signature(clip_paths(clips_dir, k)[1])) for k in sorted(set(json.loads(clip_of.read_text())
                                                                                     .values()))]
    code = code_key(__name__, data=(templates_text(),))
    return digest("augment", [str(f) for f in draft_files], str(clip_of), str(selection), results, seed,
                  cfg.model_dump(mode="json"), code, length=24)


def augment_done(folder: Path, ledger: Path) -> bool:
    """Whether `folder` holds a complete output that the ledger still agrees with: the ledger is as this output left
    it (an output made with an older ledger, or a ledger edited or lost since, is made again)."""
    written = folder / LEDGER_WRITTEN
    return (written.exists() and ledger.is_file() and (folder / AUGMENTED).exists()
            and written.read_text().strip() == sha256_file(ledger))


def augment_stage(draft_files: list[Path], clip_of: Path, clips_dir: Path, selection: Path, seed: int,
                  cfg: AugmentConfig, folder: Path, ledger: Path) -> dict:
    """The augment stage of a build: selected drafts with their clips -> `folder/augmented.jsonl` (+ its
    quarantine and where each clip was cut from); the ledger gains the new items' options and letters."""
    chosen = Selection.from_json(json.loads(selection.read_text()))
    pinned, kept_options = read_ledger(ledger, seed)
    specs: dict[str, dict] = {}
    quarantined: list[Quarantined] = []
    positions: dict[str, tuple[int, ...]] = {}
    given_options: dict[str, list[str]] = {}
    items_file = folder / AUGMENTED
    counted = ItemTally()
    with jsonl_writer(items_file) as write:
        def keep(item: Item) -> None:
            write(item)
            counted.add(item)
            positions[item.id] = positions_of(item)
            given_options[options_key(item.id, item.answer_texts())] = wrong_texts(item)

        pairs = selected_pairs(draft_files, json.loads(clip_of.read_text()), clips_dir, quarantined, specs)
        quarantined += augment_stream(pairs, seed, cfg, keep, pools=Pools.beside(draft_files), selection=chosen,
                                      pinned=pinned, kept_options=kept_options, spill_dir=folder.parent)
    write_json(folder / CLIP_SPECS, {i: specs[i] for i in positions if i in specs})
    write_jsonl(folder / "quarantine.jsonl", quarantined)
    # The ledger keeps every answer place and set of wrong options ever given (with this seed), so a record that
    # leaves and comes back, or that others' changes would have moved (answer counts weight the wrong options),
    # keeps its options and letters and with them its QC verdict.
    write_json(ledger, {"seed": seed, "positions": pinned | positions, "options": kept_options | given_options})
    write_text_atomic(folder / LEDGER_WRITTEN, sha256_file(ledger) + "\n")  # last: marks the output complete
    touch_and_prune(folder)
    kept = sum(1 for i in positions if i in pinned)
    return {"items": str(items_file), "quarantine": str(folder / "quarantine.jsonl"),
            "clip_specs": str(folder / CLIP_SPECS), "count": len(positions),
            "letters": {"pinned_by_ledger": kept, "new": len(positions) - kept, "spread": counted.letter_spread()},
            "length_ranks": counted.length_ranks}


def augment_reused(result: dict) -> dict:
    """The stage's result when its output is reused: the ledger agrees with it (`augment_done`), so every item's
    options and letters are the ledger's."""
    return result | {"letters": result["letters"] | {"pinned_by_ledger": result["count"], "new": 0}}


AUGMENT = KeyedStage("augment", "augment", key=augment_key, done=augment_done, reused=augment_reused)


def length_rank_spread(items: Iterable[Item]) -> dict[str, dict]:
    """Per task, over single-answer items: how many have their answer at each length rank (0 = shorter than every
    wrong option), and how many are left out of that count because a wrong option has the answer's very length."""
    return tally(items).length_ranks
