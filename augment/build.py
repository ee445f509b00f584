"""The augment stage: drafts with cut clips become finished questions.

Per draft: wrong options (paraphrase and length rules) and a template; per task and split: answer letters
balanced across items; across the set: duplicates (same task, same clip, same answers) dropped with a note.
Every choice is seeded by (build seed, item id), so the same inputs and seed give byte-identical items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from humansense.augment.options import OptionError, arrange, balanced_positions, wrong_options_for
from humansense.augment.templates import load_templates
from humansense.clips import media_for
from humansense.config import AugmentConfig
from humansense.ids import seeded_rng
from humansense.io import read_jsonl, write_json, write_jsonl
from humansense.media import MediaError
from humansense.release.select import Selection, keep_best_ranked
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
                   pinned: dict[str, tuple[int, ...]] | None = None) -> tuple[list[Item], list[Quarantined]]:
    """(draft, media, clip key) triples -> items, balanced per task and split; refused drafts quarantined. With a
    selection, eval keeps each task's `target` best-ranked survivors (the unused reserve is left out); `pinned`
    answer positions (the ledger of the previous build) are kept."""
    quarantined: list[Quarantined] = []
    ready: list[Ready] = []
    seen: dict[tuple, str] = {}
    for draft, media, clip in sorted(pairs, key=lambda p: p[0].id):
        key = (draft.task, clip, frozenset(normalise_text(a) for a in draft.answers))
        if key in seen:
            quarantined.append(Quarantined(stage="augment", reason="duplicate item", **_where(draft),
                                           detail=f"{draft.id}: same task, clip and answer as {seen[key]}"))
            continue
        seen[key] = draft.id
        try:
            ready.append(Ready(draft, media, clip, wrong_options_for(draft, seed, cfg, pools)))
        except OptionError as e:
            quarantined.append(Quarantined(stage="augment", reason=e.reason, detail=str(e), **_where(draft)))
    if selection is not None:
        splits = selection.split
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
                pinned: dict[str, tuple[int, ...]] | None = None) -> tuple[list[Item], list[Quarantined]]:
    """Read the selected drafts, attach their cut clips, and augment (balanced per task and split); failed clips
    quarantined. Without a selection every draft with a clip is used (unassigned split)."""
    pairs, quarantined = [], []
    for path in draft_files:
        for draft in read_jsonl(path, ItemDraft):
            key = clip_of.get(draft.id)
            if key is None:  # not selected, or already quarantined by the media plan (missing source file)
                continue
            try:
                pairs.append((draft, media_for(draft, key, clips_dir), key))
            except MediaError as e:
                quarantined.append(Quarantined(stage="media", reason=e.reason, detail=e.detail, **_where(draft)))
    items, refused = augment_drafts(pairs, seed, cfg, pools=Pools.beside(draft_files), selection=selection,
                                    pinned=pinned)
    return items, quarantined + refused


def positions_of(item: Item) -> tuple[int, ...]:
    """Where an item's answers sit among its options (for a count: the truth's place among the candidates)."""
    if item.kind is Kind.NUMERAL:
        return (next(k for k, o in enumerate(item.options) if o.text == item.answer),)
    return tuple(LETTERS.index(letter) for letter in item.answer)


def read_ledger(path: Path, seed: int) -> dict[str, tuple[int, ...]]:
    """The answer positions of the previous build with this seed (none for another seed or no previous build)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: tuple(v) for k, v in data["positions"].items()} if data.get("seed") == seed else {}


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


def augment_stage(draft_files: list[Path], clip_of: Path, clips_dir: Path, selection: Path, seed: int,
                  cfg: AugmentConfig, items_file: Path, quarantine_file: Path, ledger: Path) -> dict:
    """The augment stage of a build: selected drafts with their clips -> `items_file` (+ its quarantine)."""
    chosen = Selection.from_json(json.loads(selection.read_text()))
    pinned = read_ledger(ledger, seed)
    items, quarantined = build_items(draft_files, json.loads(clip_of.read_text()), clips_dir, seed, cfg, chosen,
                                     pinned)
    write_jsonl(items_file, items)
    write_jsonl(quarantine_file, quarantined)
    # The ledger keeps every answer place ever given (with this seed), so a record that leaves and comes back, or
    # that others' changes would have moved, keeps its letters and with them its QC verdict.
    write_json(ledger, {"seed": seed, "positions": pinned | {i.id: positions_of(i) for i in items}})
    kept = sum(1 for i in items if i.id in pinned)
    return {"items": str(items_file), "quarantine": str(quarantine_file), "count": len(items),
            "letters": {"pinned_by_ledger": kept, "new": len(items) - kept, "spread": letter_balance(items)}}
