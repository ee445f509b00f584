"""Translation of source texts (the fraud and counselling corpora are Chinese) into the language the speech is in.

Two engines, in order: a translation memory (JSON-lines `{"source": ..., "target": ...}`, e.g. human or reviewed
translations shipped with a source; the embedded sample has one for its fixture texts), then the configured LLM.
A machine translation is checked before use: a text still mostly in the source script (the packaged 270M model
tends to echo Chinese back) is refused as "untranslated", never spoken.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from pathlib import Path

from pydantic import BaseModel

from humansense.annotators.base import NoAnnotation
from humansense.io import read_entries

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
MAX_CJK_SHARE = 0.05  # of the non-space characters of an English translation
MAX_LENGTH_RATIO = 8.0  # an English text longer than this many times the Chinese one is a ramble, not a translation


class Translated(BaseModel):
    source: str
    text: str
    by: str  # "memory" or "llm:<model>"


def memory_key(text: str) -> str:
    return unicodedata.normalize("NFKC", " ".join(text.split()))


def load_memory(path: Path | None, wanted: Collection[str] | None = None) -> dict[str, str]:
    """A translation memory file, or only its entries for the texts `wanted` (their `memory_key`s): a round of
    annotation holds the translations it uses, not a memory that may be as large as the corpus. A malformed line is
    an error naming the file and line (it is our own input), wherever it is."""
    if path is None or not Path(path).is_file():
        return {}
    pairs = read_entries(Path(path), lambda e: (memory_key(e["source"]), str(e["target"]).strip()),
                         "translation memory entry")
    return dict(pairs) if wanted is None else {key: text for key, text in pairs if key in wanted}


def check_translation(source: str, text: str) -> str | None:
    """Why a machine translation into English is unusable, or None when it looks like one."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return "empty translation"
    cjk = sum(bool(CJK.match(c)) for c in chars)
    if cjk / len(chars) > MAX_CJK_SHARE:
        return f"{cjk} of {len(chars)} characters are still Chinese"
    if len(text) > MAX_LENGTH_RATIO * max(len(source), 10):
        return f"{len(text)} characters for a {len(source)}-character source"
    return None


def translate_all(texts: list[str], memory: dict[str, str],
                  machine: Callable[[list[str]], dict[str, object]] | None,
                  model: str = "llm") -> dict[str, Translated | NoAnnotation]:
    """Every distinct text, from the memory first, then `machine` (texts -> LLM results, e.g. `translate_many`:
    all of them at once, so they go out concurrently or as one batch), checked."""
    out: dict[str, Translated | NoAnnotation] = {}
    unknown = []
    for text in dict.fromkeys(texts):
        known = memory.get(memory_key(text))
        if known:
            out[text] = Translated(source=text, text=known, by="memory")
        elif machine is None:
            out[text] = NoAnnotation(kind="translation", engine="none", reason="untranslated",
                                     detail="not in the translation memory and no LLM configured")
        else:
            unknown.append(text)
    results = machine(unknown) if unknown else {}
    for text in unknown:
        result = results[text]
        if getattr(result, "status", "none") != "ok":
            out[text] = NoAnnotation(kind="translation", engine=model, reason="untranslated",
                                     detail=f"{result.reason}: {result.detail}"[:300], raw=result.raw)
            continue
        candidate = str(result.data["translation"]).replace("<|im_end|>", "").strip()
        problem = check_translation(text, candidate)
        out[text] = (Translated(source=text, text=candidate, by=f"llm:{model}") if problem is None else
                     NoAnnotation(kind="translation", engine=model, reason="untranslated", detail=problem,
                                  raw=candidate[:500]))
    return {t: out[t] for t in dict.fromkeys(texts)}
