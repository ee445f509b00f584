"""Published text without the build machine's details: absolute paths become `<source>/...`, `<build>/...` or `~`,
ffmpeg's component tags and memory addresses go, multi-line tool output becomes one line, and configured secrets
(the Hub token, the LLM key) are blanked wherever they would appear."""

from __future__ import annotations

import os
import re
from pathlib import Path

_FFMPEG_TAG = re.compile(r"\[[\w,.:-]+ @ 0x[0-9a-fA-F]+\]\s*")


def machine_prefixes(build: Path, roots: dict[str, Path]) -> dict[str, str]:
    """Absolute folders -> what to show instead (longest first when applied)."""
    prefixes = {str(Path(root).resolve()): f"<{name}>" for name, root in roots.items()}
    prefixes[str(Path(build).resolve())] = "<build>"
    prefixes[str(Path.cwd().resolve())] = "<cwd>"
    home = str(Path.home())
    if home not in ("/", ""):
        prefixes[home] = "~"
    return prefixes


def secrets_in_environment(names: tuple[str, ...] = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")) -> list[str]:
    return [v for n in names if len(v := os.environ.get(n, "")) >= 8]


def scrub(text: str, prefixes: dict[str, str], secrets: list[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "<secret>")
    for path in sorted(prefixes, key=len, reverse=True):
        text = text.replace(path, prefixes[path])
    text = _FFMPEG_TAG.sub("", text)
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())
