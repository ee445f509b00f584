"""What the text sources heard as audio (FG's fraud calls, PC's counselling dialogues) share.

Their records are texts; the build's annotate step translates them and speaks them with two voices (a
`SpeechJob` per record), writing `<id>.speech.json` into its evidence folder. The adapter then makes items whose clip is
that audio, with the source text, the translation and the spoken turns stored on the item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from humansense.annotators.steps import SpeechStep
from humansense.schema import ClipSpec
from humansense.sources.base import RecordError, SourceAdapter


class SpokenTextAdapter(SourceAdapter):
    steps = (SpeechStep,)

    def annotation_steps(self) -> list:
        return [SpeechStep(memory=self.translation_memory())]

    def source_files(self) -> list[Path]:
        """The source's own annotation files (its texts)."""
        raise NotImplementedError

    def annotation_files(self) -> list[Path]:
        folder = self.evidence_folder()
        return self.source_files() + (folder.files("speech") if folder is not None else [])

    def translation_memory(self) -> Path | None:
        if not self.config.translation_memory:
            return None
        path = self.root / self.config.translation_memory
        return path if path.is_file() else None

    def speech_for(self, record_id: str) -> dict[str, Any]:
        """The spoken rendering of a record, or RecordError saying why there is none (untranslated, no TTS)."""
        speech = self.evidence(record_id, "speech")
        if speech is None:
            raise RecordError("not spoken", f"record {record_id}: no speech rendering (the annotate step did not run)")
        if speech.get("status") != "ok":
            raise RecordError(speech.get("reason", "not spoken"), f"record {record_id}: {speech.get('detail', '')}")
        return speech

    @staticmethod
    def audio_clip(speech: dict[str, Any]) -> ClipSpec:
        return ClipSpec(kind="span", source_path=speech["wav"], start_s=0.0, end_s=float(speech["duration_s"]),
                        output="audio")

    @staticmethod
    def english(speech: dict[str, Any], text: str) -> str:
        return speech["translations"][text]["text"]

    @staticmethod
    def speech_annotations(speech: dict[str, Any]) -> dict[str, Any]:
        return {"spoken_turns": speech["turns"], "voice": speech["voice"], "phone_band": speech["phone_band"],
                "translated_by": sorted({t["by"] for t in speech["translations"].values()})}
