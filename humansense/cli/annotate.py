"""`humansense annotate`: one annotator on one file, through the engine registry a build uses."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import BaseModel

from humansense.annotators import registry
from humansense.annotators.asr import transcribe
from humansense.annotators.base import AnnotationCache
from humansense.annotators.emotion import read_emotion
from humansense.annotators.ocr import read_captions
from humansense.annotators.tts import speak_dialogue
from humansense.cli.common import config_or_exit, console


class Answer(BaseModel):
    answer: str


def dialogue_turns(path: Path) -> list[tuple[int, str]]:
    """Lines 'SPEAKER: text' (a line without a numbered speaker is speaker 0's)."""
    turns = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        speaker, sep, text = line.partition(":")
        turns.append((int(speaker), text) if sep and speaker.strip().isdigit() else (0, line))
    return turns


class AnnotatorKind(str, Enum):
    ocr = "ocr"
    asr = "asr"
    emotion = "emotion"
    llm = "llm"
    tts = "tts"


def annotate(
    kind: Annotated[AnnotatorKind, typer.Argument(help="Which annotator.")],
    input: Annotated[Path, typer.Argument(help="A media file (asr); a text file (llm: the prompt; tts: lines "
                                               "'SPEAKER: text').")],
    start: Annotated[Optional[float], typer.Option("--start", help="Span start, seconds.")] = None,
    end: Annotated[Optional[float], typer.Option("--end", help="Span end, seconds.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="Engine (default: the configured one).")] = None,
    phone_band: Annotated[bool, typer.Option("--phone-band", help="tts: telephone-band audio.")] = False,
    region: Annotated[str, typer.Option("--region", help="emotion: whose face: left, right or any.")] = "any",
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config.")] = None,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="Annotation cache.")] = Path("build/cache/annotations"),
) -> None:
    """Run one annotator on one file or span and print its typed result as JSON, with the cache hit or miss."""
    cfg = config_or_exit(config).annotators
    if engine is not None and kind is AnnotatorKind.asr:  # --engine names another ASR engine, with the same settings
        cfg = cfg.model_copy(update={"asr": cfg.asr.model_copy(update={"engine": engine})})
    cache = AnnotationCache(cache_dir)
    if not input.exists():
        console.print(f"[red]{input} does not exist[/red]")
        raise typer.Exit(2)
    if kind is AnnotatorKind.llm:
        prompt = input.read_text(encoding="utf-8", errors="replace")
        with registry.llm_client(cfg, cache) as client:
            result = client.structured(prompt, Answer)
    else:  # the engine a build's steps would hold, from the one registry (its device and threads as configured)
        held = registry.engine(kind.value, cfg)
        if kind is AnnotatorKind.asr:
            result = transcribe(input, held, cache, start=start, end=end)
        elif kind is AnnotatorKind.emotion:
            result = read_emotion(input, held, cache, region=region, fps=cfg.emotion.fps, start=start, end=end)
        elif kind is AnnotatorKind.ocr:
            result = read_captions(input, held, cache, fps=cfg.ocr.fps, start=start, end=end,
                                   dup_threshold=cfg.ocr.dup_threshold)
        else:
            result = speak_dialogue(dialogue_turns(input), held, cache, phone_band=phone_band)
    typer.echo(json.dumps({"cache": "hit" if cache.hits else "miss", "result": result.model_dump(mode="json")},
                          indent=2, ensure_ascii=False))

