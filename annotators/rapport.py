"""Rapport scoring of a conversation transcript by the LLM, on the paper's three dimensions (RR).

The scores and a short rationale are stored on the item for QC, where people check the LLM's judgement by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from humansense.annotators.base import NoAnnotation
from humansense.annotators.llm import LlmClient, LlmResult
from humansense.io import read_entries

SYSTEM = ("You judge the rapport between two people from the transcript of their conversation. Rate how often they "
          "interact (1 = rarely respond to each other, 5 = constant back-and-forth), the atmosphere of their "
          "communication, and how much their viewpoints conflict. Base every judgement on the transcript only.")


class RapportScore(BaseModel):
    interaction_frequency: int = Field(ge=1, le=5)
    atmosphere: Literal["pleasant", "neutral", "tense"]
    viewpoint_conflict: Literal["none", "some", "strong"]
    rationale: str = Field(max_length=160)  # bounded: a small model would otherwise ramble until max_tokens


def score_rapports(client: LlmClient, transcripts: dict[str, str]) -> dict[str, LlmResult | NoAnnotation]:
    """Rapport scores of many transcripts (id -> text), concurrently or through the Batch API."""
    prompts = {i: f"Transcript:\n{text}\n\nRate the rapport." for i, text in transcripts.items()}
    return client.structured_many(prompts, RapportScore, system=SYSTEM)


def rapport_label(score: dict) -> str | None:
    """'Harmonious' / 'With challenges' from a score, or None when the score is mixed (left out of RR)."""
    if score["atmosphere"] == "pleasant" and score["viewpoint_conflict"] == "none":
        return "Harmonious"
    if score["atmosphere"] == "tense" or score["viewpoint_conflict"] == "strong":
        return "With challenges"
    return None


def load_reviews(path: Path | None) -> dict[str, LlmResult]:
    """Reviewed rapport scores (JSON lines `{"video_id", "score": {...}, "by"}`), used instead of the LLM's for those
    videos: people's judgements survive rebuilds, and the sample's RR items do not hang on the packaged 270M model,
    which scores every conversation "neutral". A malformed line is an error naming the file and line."""
    if path is None or not Path(path).is_file():
        return {}

    def review(entry: dict) -> tuple[str, LlmResult]:
        score = RapportScore.model_validate(entry["score"])
        return str(entry["video_id"]), LlmResult(engine="review", model=f"review: {entry.get('by', 'unnamed')}",
                                                 data=score.model_dump(), raw=json.dumps(entry, ensure_ascii=False))

    return dict(read_entries(Path(path), review, "rapport review"))
