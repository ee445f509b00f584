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
from humansense.io import read_jsonl, write_jsonl
from humansense.media import MediaError
from humansense.release.select import Selection, keep_best_ranked
from humansense.schema import LETTERS, Item, ItemDraft, Media, Option, Quarantined, normalise_text
from humansense.sources.pools import Pools
from humansense.tasks import QUESTION_PATTERN, TASKS, task


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
                   selection: Selection | None = None) -> tuple[list[Item], list[Quarantined]]:
    """(draft, media, clip key) triples -> items, balanced per task and split; refused drafts quarantined. With a
    selection, eval keeps each task's `target` best-ranked survivors (the unused reserve is left out)."""
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
    positions = balanced_positions([r.draft for r in ready], splits, seed)
    items = [make_item(r, positions[r.draft.id], seed, splits.get(r.draft.id, "unassigned")) for r in ready]
    items.sort(key=lambda i: (list(TASKS).index(i.task), i.id))
    return items, quarantined


def build_items(draft_files: list[Path], clip_of: dict[str, str], clips_dir: Path, seed: int,
                cfg: AugmentConfig, selection: Selection | None = None) -> tuple[list[Item], list[Quarantined]]:
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
    items, refused = augment_drafts(pairs, seed, cfg, pools=Pools.beside(draft_files), selection=selection)
    return items, quarantined + refused


def augment_stage(draft_files: list[Path], clip_of: Path, clips_dir: Path, selection: Path, seed: int,
                  cfg: AugmentConfig, items_file: Path, quarantine_file: Path) -> dict:
    """The augment stage of a build: selected drafts with their clips -> `items_file` (+ its quarantine)."""
    chosen = Selection.from_json(json.loads(selection.read_text()))
    items, quarantined = build_items(draft_files, json.loads(clip_of.read_text()), clips_dir, seed, cfg, chosen)
    write_jsonl(items_file, items)
    write_jsonl(quarantine_file, quarantined)
    return {"items": str(items_file), "quarantine": str(quarantine_file), "count": len(items)}
