"""Label Studio interoperability: export the QC sample as tasks (with the item's answer as a pre-annotation) and a
labelling config; import Label Studio's JSON export back as verdicts.

In Label Studio the reviewer picks the correct option(s) (pre-filled with ours), a verdict (Accept / Reject /
Correct), a reject reason and a note. Media URLs are relative to the build folder; serve it with Label Studio's
local-files storage (`LOCAL_FILES_DOCUMENT_ROOT=<build>`) or rewrite `media_prefix`.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from humansense.qc.store import REJECT_REASONS, ReviewStore, VerdictIn, content_hash
from humansense.schema import Item
from humansense.tasks import Kind

VERDICT_CHOICES = {"Accept": "accept", "Reject": "reject", "Correct": "correct"}


def labelling_config() -> str:
    reasons = "".join(f'<Choice value="{escape(r)}"/>' for r in REJECT_REASONS)
    digits = "".join(f'<Choice value="{d}"/>' for d in range(10))
    return (
        '<View>\n'
        '  <Header value="$task_name"/>\n'
        '  <Video name="video" value="$video" sync="audio"/>\n'
        '  <Audio name="audio" value="$audio"/>\n'
        '  <Text name="question" value="$question"/>\n'
        '  <Text name="options" value="$options_text"/>\n'
        '  <Text name="evidence" value="$evidence"/>\n'
        '  <Choices name="answer" toName="question" choice="multiple" showInline="true">\n'
        '    <Choice value="A"/><Choice value="B"/><Choice value="C"/><Choice value="D"/><Choice value="E"/>\n'
        '  </Choices>\n'
        '  <Choices name="count" toName="question" choice="single" showInline="true">\n'
        f'    {digits}\n'
        '  </Choices>\n'
        '  <Choices name="verdict" toName="question" choice="single" required="true">\n'
        '    <Choice value="Accept"/><Choice value="Reject"/><Choice value="Correct"/>\n'
        '  </Choices>\n'
        f'  <Choices name="reason" toName="question" choice="single">{reasons}</Choices>\n'
        '  <TextArea name="note" toName="question" rows="2"/>\n'
        '</View>\n')


def export_tasks(items: list[Item], media_prefix: str = "/data/local-files/?d=release/") -> list[dict]:
    tasks = []
    for item in items:
        media = media_prefix + item.media.path
        field = "count" if item.kind is Kind.NUMERAL else "answer"  # counts are digits, not option letters
        tasks.append({
            "data": {"item_id": item.id, "content_hash": content_hash(item), "task_name": item.task,
                     "video": media if item.modality == "video" else "", "audio": media if item.modality == "audio"
                     else "", "question": item.question,
                     "options_text": "\n".join(f"{o.letter}. {o.text}" for o in item.options),
                     "evidence": json.dumps(item.annotations, ensure_ascii=False)[:4000]},
            "predictions": [{"model_version": "humansense-build", "result": [
                {"from_name": field, "to_name": "question", "type": "choices",
                 "value": {"choices": [item.answer] if field == "count" else list(item.answer)}}]}],
        })
    return tasks


def _choices(result: list[dict], name: str) -> list[str]:
    for r in result:
        if r.get("from_name") == name and r.get("type") == "choices":
            return list(r.get("value", {}).get("choices", []))
    return []


def _text(result: list[dict], name: str) -> str:
    for r in result:
        if r.get("from_name") == name and r.get("type") == "textarea":
            return "\n".join(r.get("value", {}).get("text", []))
    return ""


def import_annotations(export: list[dict], store: ReviewStore) -> tuple[int, list[str]]:
    """Store each completed Label Studio annotation as a verdict; return (stored, problems)."""
    stored, problems = 0, []
    for task in export:
        data = task.get("data", {})
        for ann in task.get("annotations", []):
            if ann.get("was_cancelled"):
                continue
            result = ann.get("result", [])
            verdict = VERDICT_CHOICES.get((_choices(result, "verdict") or [""])[0])
            annotator = ann.get("completed_by")
            annotator = (annotator.get("email") if isinstance(annotator, dict) else str(annotator or "")) or "unknown"
            if verdict is None:
                problems.append(f"task {task.get('id')}: annotation {ann.get('id')} has no verdict")
                continue
            try:
                store.add(VerdictIn(
                    item_id=data["item_id"], content_hash=data["content_hash"], annotator=f"labelstudio:{annotator}",
                    verdict=verdict, reason=(_choices(result, "reason") or [None])[0], note=_text(result, "note"),
                    corrected_answer=("".join(_choices(result, "count")) or "".join(sorted(_choices(result, "answer"))))
                    if verdict == "correct" else None,
                    source="labelstudio"))
                stored += 1
            except (KeyError, ValueError) as e:
                problems.append(f"task {task.get('id')}: annotation {ann.get('id')}: {e}")
    return stored, problems


def write_export(items: list[Item], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    tasks, config = folder / "labelstudio_tasks.json", folder / "labelstudio_config.xml"
    tasks.write_text(json.dumps(export_tasks(items), indent=1, ensure_ascii=False), encoding="utf-8")
    config.write_text(labelling_config(), encoding="utf-8")
    return tasks, config
