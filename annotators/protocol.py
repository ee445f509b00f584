"""What the annotate stage asks of a source made from annotations. `sources/base.py`'s `SourceAdapter` provides every
hook (defaults where a source has nothing to give); the flow hands the stage an adapter class, and the stage never
looks a source up by name nor imports one."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

from humansense.schema import ItemDraft, SpeechJob


class AnnotatedSource(Protocol):
    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    steps: ClassVar[tuple[type, ...]]  # the step classes its items are made from (`annotators.steps`)
    config: Any
    root: Path
    seed: int

    def __init__(self, config: Any, root: Path, seed: int = 0, evidence: Path | None = None) -> None: ...

    @classmethod
    def code_version(cls) -> str: ...

    def annotation_steps(self) -> list: ...  # the steps, with this source's parameters

    def most_drafts_per_record(self, task: str) -> int: ...

    def videos(self) -> list[tuple[str, Path]]: ...  # (record id, media) for the video steps

    def speech_jobs(self, only: Collection[str] | None = None) -> Iterator[SpeechJob]: ...  # for the speech step

    def source_files(self) -> list[Path]: ...  # texts a text source's jobs come from (their checksums key them)

    def hand_kept_files(self) -> list[Path]: ...  # reviews kept by people that decide evidence (their checksums too)

    def translation_memory(self) -> Path | None: ...

    def read_faces(self, video_id: str, asr: dict, read: Callable[[int], dict]) -> dict[int, dict]: ...

    def parse(self, sink: Callable[[ItemDraft], None] | None = None, quarantine_sink: Callable | None = None,
              only: Collection[str] | None = None) -> Any: ...
