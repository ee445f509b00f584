"""Question templates: plain data (templates/templates.yaml), validated when loaded."""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from humansense.tasks import TASKS

MIN_TEMPLATES = 5
# Phrases that take the event for granted: a task whose answer can be "nothing happened" may not use them.
PRESUPPOSING = ("the unusual event", "the abnormal event", "the crime", "the incident", "the scam", "the fraud",
                "kind of scam", "type of scam", "kind of fraud is", "type of fraud is", "which crime", "what crime")


class TaskTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vars: list[str] = []
    templates: dict[str, str]

    @model_validator(mode="after")
    def _placeholders(self) -> TaskTemplates:
        for tid, text in self.templates.items():
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            unknown = used - set(self.vars)
            if unknown:
                raise ValueError(f"template {tid} uses unknown placeholders {sorted(unknown)}")
        return self

    def render(self, template_id: str, values: dict[str, str]) -> str:
        missing = set(self.vars) - set(values)
        if missing:
            raise KeyError(f"template {template_id} needs values for {sorted(missing)}")
        return self.templates[template_id].format(**values)


def parse_templates(text: str) -> dict[str, TaskTemplates]:
    raw = yaml.safe_load(text) or {}
    unknown = set(raw) - set(TASKS)
    if unknown:
        raise ValueError(f"templates for unknown tasks: {sorted(unknown)}")
    parsed = {abbr: TaskTemplates.model_validate(body) for abbr, body in raw.items()}
    for abbr, t in parsed.items():
        null = TASKS[abbr].null_answer
        for tid, text in t.templates.items():
            said = next((p for p in PRESUPPOSING if p in text.lower()), None)
            if null and said:
                raise ValueError(f"{abbr} template {tid} presupposes the event ({said!r}) but an answer can be "
                                 f"{null!r}: {text!r}")
        if len(t.templates) < MIN_TEMPLATES:
            raise ValueError(f"{abbr} has {len(t.templates)} templates; at least {MIN_TEMPLATES} are required")
    return parsed


def templates_text() -> str:
    return resources.files("humansense.augment").joinpath("templates/templates.yaml").read_text(encoding="utf-8")


@cache
def load_templates() -> dict[str, TaskTemplates]:
    parsed = parse_templates(templates_text())
    missing = set(TASKS) - set(parsed)
    if missing:
        raise ValueError(f"templates.yaml has no templates for {sorted(missing)}")
    return parsed
