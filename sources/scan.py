"""`humansense sources scan DIR`: which sources' published files are under a folder, and a config that reads them.

Each source is recognised by its published file names and, where names are shared (ActivityNet's and
TAO's `train.json`), by the file's shape (the keys near its start). Per source the scan reports the root, the
annotation files found (with the split each belongs to), the media folder and how many media files it holds, and
it can write a TOML config with every found file listed under its setting (`annotation_files`, `excluded_timestamps`,
...), the media folder where it is not the default, and every source not found switched off, so a build never
falls back to the embedded sample without a word.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
MAX_DEPTH = 4  # folders below DIR searched for source roots


def _head(path: Path, size: int = 65536) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _has(*needles: str):
    return lambda path: all(n in _head(path) for n in needles)


@dataclass(frozen=True)
class FileSetting:
    key: str  # the adapter config's setting
    patterns: tuple[str, ...]  # globs relative to the source root
    many: bool = True  # a list setting (every match), else one file
    sniff: object = None  # path -> bool: the file has this source's shape
    required: bool = True  # the source is recognised by this setting's files


@dataclass(frozen=True)
class MediaSetting:
    key: str | None  # the config setting naming the folder (None: fixed by the adapter)
    default: str  # default folder relative to the root ("" = the root itself)
    frames: bool = False  # a folder of frame folders (count subfolders) instead of video files


@dataclass(frozen=True)
class SourceSpec:
    name: str
    files: tuple[FileSetting, ...]
    media: tuple[MediaSetting, ...] = ()


SPECS = (
    SourceSpec("celebvhq", (FileSetting("annotation_file", ("celebvhq_info.json",), many=False,
                                        sniff=_has('"clips"')),),
               (MediaSetting(None, "processed"), MediaSetting(None, "raw"))),
    SourceSpec("ava", (FileSetting("annotation_files", ("ava_train_v2.*.csv", "ava_val_v2.*.csv")),
                       FileSetting("label_map", ("ava_action_list_v2.*.pbtxt",), many=False, required=False),
                       FileSetting("excluded_timestamps", ("ava_*_excluded_timestamps_v2.*.csv",), required=False)),
               (MediaSetting("videos_dir", "trainval"),)),
    SourceSpec("jester", (FileSetting("annotation_files", ("jester-v1-train.csv", "jester-v1-validation.csv")),
                          FileSetting("labels_file", ("jester-v1-labels.csv",), many=False, required=False)),
               (MediaSetting("frames_dir", "20bn-jester-v1", frames=True),)),
    SourceSpec("activitynet", (FileSetting("annotation_files", ("train.json", "val_1.json", "val_2.json"),
                                           sniff=_has('"timestamps"', '"sentences"')),),
               (MediaSetting("videos_dir", "videos"),)),
    SourceSpec("ucf_crime", (FileSetting("annotation_file", ("Temporal_Anomaly_Annotation*.txt",), many=False),),
               (MediaSetting(None, ""),)),
    SourceSpec("tao", (FileSetting("annotation_files", ("train.json", "validation.json", "annotations/train.json",
                                                        "annotations/validation.json"),
                                   sniff=_has('"videos"', '"tracks"')),),
               (MediaSetting("frames_dir", "frames", frames=True),)),
    SourceSpec("skindeep", (FileSetting("", ("*.info.json",), sniff=_has('"id"', '"title"')),),
               (MediaSetting(None, ""),)),
    SourceSpec("realtalk", (FileSetting("", ("emoca/*.pkl",)),), (MediaSetting("videos_dir", "videos"),)),
    SourceSpec("seumld", (FileSetting("manifest", ("seumld_manifest.csv",), many=False),)),
    SourceSpec("telecom_fraud", (FileSetting("files", ("label0?-last.csv",)),)),
    SourceSpec("efaqa", (FileSetting("annotation_file", ("efaqa-corpus-zh*.gz",), many=False),)),
)

SPLIT_WORDS = (("train", "train"), ("val", "val"), ("validation", "val"), ("test", "test"))


def split_of(name: str) -> str:
    low = name.lower()
    for word, split in SPLIT_WORDS:
        if word in low:
            return split
    return "all"


@dataclass
class Found:
    name: str
    root: Path
    settings: dict[str, list[str]] = field(default_factory=dict)  # config key -> files relative to the root
    media: dict[str, dict] = field(default_factory=dict)  # folder -> {"setting", "files"}

    @property
    def file_count(self) -> int:
        return sum(len(v) for v in self.settings.values())

    def summary(self) -> dict:
        files = [f for v in self.settings.values() for f in v]
        main = next(iter(self.settings.values()), [])  # the records' files (the first setting), not label maps
        return {"root": str(self.root), "annotation_files": files,
                "splits": sorted({split_of(f) for f in main}), "settings": self.settings, "media": self.media}


def _matches(root: Path, setting: FileSetting) -> list[str]:
    out = []
    for pattern in setting.patterns:
        for p in sorted(root.glob(pattern)):
            if p.is_file() and (setting.sniff is None or setting.sniff(p)):
                out.append(p.relative_to(root).as_posix())
    return out


def _media_files(folder: Path, frames: bool) -> int:
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        if frames:
            return sum(1 for e in entries if e.is_dir())
        return sum(1 for e in entries if e.is_file() and e.name.lower().endswith(VIDEO_EXTENSIONS))


def _best_media_folder(root: Path, media: MediaSetting) -> tuple[str, int]:
    """The configured default if it holds media, else the subfolder (one level down) holding the most."""
    count = _media_files(root / media.default, media.frames)
    if count or media.key is None:
        return media.default, count
    best = (media.default, 0)
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        n = _media_files(sub, media.frames)
        if n > best[1]:
            best = (sub.name, n)
    return best


def _folders(top: Path) -> list[Path]:
    out = []
    for here, dirs, _ in os.walk(top):
        depth = len(Path(here).relative_to(top).parts)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if depth <= MAX_DEPTH:
            out.append(Path(here))
    return out


def scan(top: Path) -> dict[str, Found]:
    """Per source found under `top`: the best root (most files; then media present; then the shallowest)."""
    found: dict[str, Found] = {}
    folders = _folders(Path(top).resolve())
    for spec in SPECS:
        candidates = []
        for folder in folders:
            settings = {s.key: _matches(folder, s) for s in spec.files}
            if not any(settings[s.key] for s in spec.files if s.required):
                continue
            hit = Found(spec.name, folder, {k: v for k, v in settings.items() if v})
            for media in spec.media:
                name, count = _best_media_folder(folder, media)
                hit.media[name or "."] = {"setting": media.key, "files": count}
            candidates.append(hit)
        if candidates:
            found[spec.name] = max(candidates, key=lambda f: (f.file_count, sum(m["files"] for m in f.media.values()),
                                                              -len(f.root.parts)))
    return found


def _toml_value(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_text(found: dict[str, Found], all_sources: list[str]) -> str:
    """A TOML config reading every file the scan found; sources not found are switched off."""
    lines = ["# Written by `humansense sources scan`: every published file found is read; sources not found are off.",
             "seed = 2026", ""]
    specs = {s.name: s for s in SPECS}
    for name in all_sources:
        lines.append(f"[sources.{name}]")
        hit = found.get(name)
        if hit is None:
            lines += ["enabled = false", ""]
            continue
        lines.append(f"root = {_toml_value(str(hit.root))}")
        for setting in specs[name].files:
            files = hit.settings.get(setting.key)
            if setting.key and files:
                lines.append(f"{setting.key} = {_toml_value(files if setting.many else files[0])}")
        for folder, info in hit.media.items():
            default = next(m.default for m in specs[name].media if m.key == info["setting"])
            if info["setting"] and folder != (default or "."):
                lines.append(f"{info['setting']} = {_toml_value(folder)}")
        lines.append("")
    return "\n".join(lines)
