"""Turn a draft and its clip into a finished question: template, options, order, answer."""

from __future__ import annotations

from pathlib import Path

from humansense.augment.templates import load_templates
from humansense.clips import media_for
from humansense.ids import seeded_rng
from humansense.io import read_jsonl
from humansense.media import MediaError
from humansense.schema import LETTERS, Item, ItemDraft, Media, Option, Quarantined
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind, task


class AugmentError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def choose_options(draft: ItemDraft, seed: int) -> tuple[list[str], str]:
    """Pick the wrong options and the order; return (option texts, answer). Same inputs and seed, same result."""
    spec = task(draft.task)
    rng = seeded_rng(seed, draft.id, "options")
    if spec.kind is Kind.NUMERAL:
        wanted = spec.options - 1
        wrong = (draft.hard_distractors + draft.distractors)[:wanted]
        if len(wrong) < wanted:
            raise AugmentError("not enough distractors", f"{draft.id}: {len(wrong)} wrong counts, need {wanted}")
        return sorted(draft.answers + wrong, key=int), draft.answers[0]
    wanted = spec.options - len(draft.answers)
    hard = rng.sample(draft.hard_distractors, len(draft.hard_distractors))[:wanted]
    rest = [d for d in draft.distractors if d not in hard]
    wrong = hard + rng.sample(rest, min(len(rest), wanted - len(hard)))
    if len(wrong) < wanted:
        raise AugmentError("not enough distractors", f"{draft.id}: {len(wrong)} wrong options, need {wanted}")
    options = draft.answers + wrong
    rng.shuffle(options)
    answer = "".join(LETTERS[i] for i, text in enumerate(options) if text in draft.answers)
    return options, answer


def make_item(draft: ItemDraft, media: Media, seed: int) -> Item:
    spec = task(draft.task)
    templates = load_templates().get(draft.task)
    if templates is None:
        raise AugmentError("no templates", f"{draft.id}: no question templates for task {draft.task}")
    template_id = seeded_rng(seed, draft.id, "template").choice(sorted(templates.templates))
    texts, answer = choose_options(draft, seed)
    return Item(
        id=draft.id, task=draft.task, level=spec.level, modality=spec.modality, kind=spec.kind,
        question_pattern=QUESTION_PATTERN[spec.kind],
        question=templates.render(template_id, draft.template_vars),
        options=[Option(letter=LETTERS[i], text=t) for i, t in enumerate(texts)],
        answer=answer, media=media, provenance=draft.provenance, template_id=template_id,
        annotations=draft.annotations)


def build_items(draft_files: list[Path], clip_of: dict[str, str], clips_dir: Path,
                seed: int) -> tuple[list[Item], list[Quarantined]]:
    """Make an item of every draft whose clip was cut; quarantine the rest with the reason."""
    items: list[Item] = []
    quarantined: list[Quarantined] = []
    for path in draft_files:
        for draft in read_jsonl(path, ItemDraft):
            key = clip_of.get(draft.id)
            if key is None:  # already quarantined by the media plan (missing source file)
                continue
            where = dict(source=draft.provenance.source, task=draft.task, record_id=draft.provenance.record_id,
                         file=draft.provenance.original_file)
            try:
                items.append(make_item(draft, media_for(draft, key, clips_dir), seed))
            except MediaError as e:
                quarantined.append(Quarantined(stage="media", reason=e.reason, detail=e.detail, **where))
            except AugmentError as e:
                quarantined.append(Quarantined(stage="augment", reason=e.reason, detail=str(e), **where))
    items.sort(key=lambda i: (list(TASKS).index(i.task), i.id))
    return items, quarantined
