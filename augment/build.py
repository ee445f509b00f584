"""The augment stage: drafts with cut clips become finished questions.

Per draft: wrong options (paraphrase and length rules) and a template; per task and split: answer letters
balanced across items; across the set: duplicates (same task, same clip, same answers) dropped with a note.
Every choice is seeded by (build seed, item id), so the same inputs and seed give byte-identical items.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from humansense.augment.options import (OptionError, answer_slots, arrange, balanced_positions,
                                        wrong_options_for)
from humansense import clips, schema, tasks
from humansense.augment import options, templates
from humansense.augment.templates import load_templates, templates_text
from humansense.clips import clip_paths, media_for
from humansense.config import AugmentConfig
from humansense.faults import checkpoint
from humansense.ids import seeded_rng
from humansense.ids import digest
from humansense.io import read_jsonl, write_json, write_jsonl, write_text_atomic
from humansense.keyed import code_digest, stat_signature, touch_and_prune
from humansense.media import MediaError, sha256_file
from humansense.release import reference, select
from humansense.release.reference import CLIP_SPECS, clip_spec_record
from humansense.release.select import Selection, keep_best_ranked
from humansense.sources import pools
from humansense.schema import LETTERS, Item, ItemDraft, Media, Option, Quarantined, normalise_text
from humansense.sources.pools import Pools
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind, task


@dataclass(frozen=True)
class Ready:
    draft: ItemDraft
    media: Media
    clip: str
    wrong: list[str]


def _where(draft: ItemDraft) -> dict:
    return dict(source=draft.provenance.source, task=draft.task, record_id=draft.provenance.record_id,
                file=draft.provenance.original_file)


def answer_counts(drafts: Iterable[ItemDraft], splits: dict[str, str]) -> dict[tuple[str, str], dict[str, float]]:
    """Per task and split, how often each (normalised) answer text is an answer: the weights wrong options are
    drawn by (per split, as eval's classes are evened out by selection and train's are not)."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for d in drafts:
        counts[(d.task, splits.get(d.id, "unassigned"))].update(normalise_text(a) for a in d.answers)
    return {k: dict(c) for k, c in counts.items()}


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


def augment_drafts(pairs: list[tuple[ItemDraft, Media, str]], seed: int, cfg: AugmentConfig,
                   splits: dict[str, str] | None = None, pools: Pools | None = None,
                   selection: Selection | None = None,
                   pinned: dict[str, tuple[int, ...]] | None = None,
                   kept_options: dict[str, list[str]] | None = None) -> tuple[list[Item], list[Quarantined]]:
    """(draft, media, clip key) triples -> items, balanced per task and split; refused drafts quarantined. With a
    selection, eval keeps each task's `target` best-ranked survivors (the unused reserve is left out); `pinned`
    answer positions and `kept_options` wrong options (the ledger of the previous build) are kept."""
    quarantined: list[Quarantined] = []
    ready: list[Ready] = []
    seen: dict[tuple, str] = {}
    if selection is not None:
        splits = selection.split
    weights = answer_counts((d for d, _, _ in pairs), splits or {})
    train_records = {d.provenance.record_id for d, _, _ in pairs if (splits or {}).get(d.id) == "train"}
    kept_options = kept_options or {}
    for draft, media, clip in sorted(pairs, key=lambda p: p[0].id):
        key = (draft.task, clip, frozenset(normalise_text(a) for a in draft.answers))
        if key in seen:
            quarantined.append(Quarantined(stage="augment", reason="duplicate item", **_where(draft),
                                           detail=f"{draft.id}: same task, clip and answer as {seen[key]}"))
            continue
        seen[key] = draft.id
        try:
            split = (splits or {}).get(draft.id, "unassigned")
            labels = task(draft.task).label_options  # labels are weighted by answer counts; free text is not
            wrong = still_valid(draft, kept_options.get(options_key(draft.id, draft.answers))) or wrong_options_for(
                draft, seed, cfg, pools, weights.get((draft.task, split)) if labels else None,
                excluded=train_records if split != "train" and not labels else ())
            ready.append(Ready(draft, media, clip, wrong))
        except OptionError as e:
            quarantined.append(Quarantined(stage="augment", reason=e.reason, detail=str(e), **_where(draft)))
    if selection is not None:
        eval_ids: dict[str, list[str]] = {}
        for r in ready:
            eval_ids.setdefault(r.draft.task, []).append(r.draft.id)
        keep = keep_best_ranked(eval_ids, selection)
        ready = [r for r in ready if splits.get(r.draft.id) == "train" or r.draft.id in keep]
    # Letters are balanced over the drafts that will certainly become items, so refusals cannot unbalance them.
    splits = splits or {}
    positions = balanced_positions([r.draft for r in ready], splits, seed, pinned)
    items = [make_item(r, positions[r.draft.id], seed, splits.get(r.draft.id, "unassigned")) for r in ready]
    items.sort(key=lambda i: (list(TASKS).index(i.task), i.id))
    return items, quarantined


def build_items(draft_files: list[Path], clip_of: dict[str, str], clips_dir: Path, seed: int,
                cfg: AugmentConfig, selection: Selection | None = None,
                pinned: dict[str, tuple[int, ...]] | None = None,
                kept_options: dict[str, list[str]] | None = None,
                specs: dict[str, dict] | None = None) -> tuple[list[Item], list[Quarantined]]:
    """Read the selected drafts, attach their cut clips, and augment (balanced per task and split); failed clips
    quarantined. Without a selection every draft with a clip is used (unassigned split)."""
    pairs, quarantined = [], []
    for path in draft_files:
        for draft in read_jsonl(path, ItemDraft):
            checkpoint("augment")
            key = clip_of.get(draft.id)
            if key is None:  # not selected, or already quarantined by the media plan (missing source file)
                continue
            try:
                pairs.append((draft, media_for(draft, key, clips_dir), key))
                if specs is not None:  # where the clip came from, for reference releases
                    specs[draft.id] = clip_spec_record(draft.provenance.source, draft.provenance.original_file,
                                                       draft.clip)
            except MediaError as e:
                quarantined.append(Quarantined(stage="media", reason=e.reason, detail=e.detail, **_where(draft)))
    items, refused = augment_drafts(pairs, seed, cfg, pools=Pools.beside(draft_files), selection=selection,
                                    pinned=pinned, kept_options=kept_options)
    return items, quarantined + refused


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


def letter_balance(items: list[Item]) -> dict[str, int]:
    """Per "task/split" of the lettered tasks: the gap between the most and the least used answer letter (0 or 1 on
    a fresh build). Counts (HC) are answered with a digit, so they have no letters to balance here."""
    counts: dict[str, list[int]] = {}
    for i in items:
        if i.kind is Kind.NUMERAL:
            continue
        row = counts.setdefault(f"{i.task}/{i.split}", [0] * max(len(i.options), 1))
        for p in positions_of(i):
            row[p] += 1
    return {k: max(v) - min(v) for k, v in sorted(counts.items())}


AUGMENTED, LEDGER_WRITTEN = "augmented.jsonl", "ledger.sha256"


def augment_key(draft_files: list[Path], clip_of: Path, clips_dir: Path, selection: Path, seed: int,
                cfg: AugmentConfig) -> str:
    """What decides the items: the parse outputs, the selection and the media plan (folders keyed by content), the
    state of each planned clip's result (a clip cut or recut since changes its item), the seed, the settings, and
    this code with its templates. The ledger is checked apart (`augment_done`): it is also this stage's output."""
    results = [(k, stat_signature(clip_paths(clips_dir, k)[1])) for k in sorted(set(json.loads(clip_of.read_text())
                                                                                     .values()))]
    code = code_digest(sys.modules[__name__], options, templates, templates_text(), clips, pools, reference, select,
                       schema, tasks)
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
    items, quarantined = build_items(draft_files, json.loads(clip_of.read_text()), clips_dir, seed, cfg, chosen,
                                     pinned, kept_options, specs)
    items_file = folder / AUGMENTED
    write_jsonl(items_file, items)
    write_json(folder / CLIP_SPECS, {i.id: specs[i.id] for i in items if i.id in specs})
    write_jsonl(folder / "quarantine.jsonl", quarantined)
    # The ledger keeps every answer place and set of wrong options ever given (with this seed), so a record that
    # leaves and comes back, or that others' changes would have moved (answer counts weight the wrong options),
    # keeps its options and letters and with them its QC verdict.
    write_json(ledger, {"seed": seed, "positions": pinned | {i.id: positions_of(i) for i in items},
                        "options": kept_options | {options_key(i.id, i.answer_texts()): wrong_texts(i) for i in items}})
    write_text_atomic(folder / LEDGER_WRITTEN, sha256_file(ledger) + "\n")  # last: marks the output complete
    touch_and_prune(folder)
    kept = sum(1 for i in items if i.id in pinned)
    return {"items": str(items_file), "quarantine": str(folder / "quarantine.jsonl"),
            "clip_specs": str(folder / CLIP_SPECS), "count": len(items),
            "letters": {"pinned_by_ledger": kept, "new": len(items) - kept, "spread": letter_balance(items)},
            "length_ranks": length_rank_spread(items)}


def augment_reused(result: dict) -> dict:
    """The stage's result when its output is reused: the ledger agrees with it (`augment_done`), so every item's
    options and letters are the ledger's."""
    return result | {"letters": result["letters"] | {"pinned_by_ledger": result["count"], "new": 0}}


def length_rank_spread(items: list[Item]) -> dict[str, dict]:
    """Per task, over single-answer items: how many have their answer at each length rank (0 = shorter than every
    wrong option), and how many are left out of that count because a wrong option has the answer's very length."""
    spread: dict[str, dict] = {}
    for i in items:
        if len(i.answer_texts()) != 1 or i.kind is Kind.NUMERAL:
            continue
        truth = len(i.answer_texts()[0])
        row = spread.setdefault(i.task, {"by_rank": [0] * len(i.options), "equal_length": 0})
        lengths = [len(o.text) for o in i.options]
        if lengths.count(truth) > 1:
            row["equal_length"] += 1
        else:
            row["by_rank"][sum(n < truth for n in lengths)] += 1
    return spread
