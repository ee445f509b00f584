"""Build configuration: one TOML file, overridable from the environment (HUMANSENSE_..., `__` for nesting).

`BuildConfig` assembles the stages' sections (`humansense.sections`) and the sources' (each beside its adapter,
`sources/config.py`); this module loads it, explains where each value came from, and reads keys that moved.

A source whose `root` is unset reads the embedded sample, so `humansense build` with no config works on a fresh
machine; point `root` at a real download to build from it. Example::

    seed = 7
    [sources.ava]
    root = "/data/ava"
    layout = "full"

Environment: ``HUMANSENSE_SEED=7``, ``HUMANSENSE_SOURCES__AVA__ROOT=/data/ava``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from humansense.ids import digest
from humansense.sections import (AnnotationBudgetConfig, AnnotatorsConfig, AsrConfig, AugmentConfig, Device,
                                 EmotionConfig, LlmConfig, MediaConfig, OcrConfig, QcConfig, ReleaseConfig, Section,
                                 SourceConfig, SplitConfig, TtsConfig)
from humansense.sources.activitynet import ActivityNetConfig
from humansense.sources.ava import AvaConfig
from humansense.sources.celebvhq import CelebvhqConfig
from humansense.sources.config import SourcesConfig
from humansense.sources.efaqa import EfaqaConfig
from humansense.sources.jester import JesterConfig
from humansense.sources.realtalk import RealtalkConfig
from humansense.sources.seumld import SeumldConfig
from humansense.sources.skindeep import SkindeepConfig
from humansense.sources.tao import TaoConfig
from humansense.sources.telecom_fraud import TelecomFraudConfig
from humansense.sources.ucf_crime import UcfCrimeConfig
from humansense.sources.youtube import FetchConfig

# The sections are defined where they belong (`humansense.sections`, each source's beside its adapter) and named
# here too, where scripts written before the move look for them.
__all__ = [
    "AnnotationBudgetConfig",
    "AnnotatorsConfig",
    "AsrConfig",
    "AugmentConfig",
    "Device",
    "EmotionConfig",
    "LlmConfig",
    "MediaConfig",
    "OcrConfig",
    "QcConfig",
    "ReleaseConfig",
    "Section",
    "SourceConfig",
    "SplitConfig",
    "TtsConfig",
    "SourcesConfig",
    "ActivityNetConfig",
    "AvaConfig",
    "CelebvhqConfig",
    "EfaqaConfig",
    "FetchConfig",
    "JesterConfig",
    "RealtalkConfig",
    "SeumldConfig",
    "SkindeepConfig",
    "TaoConfig",
    "TelecomFraudConfig",
    "UcfCrimeConfig",
    "MOVED_KEYS",
    "RETIRED_SOURCE_KEYS",
    "BuildConfig",
    "ConfigError",
    "load_config",
    "check_sample_use",
    "explain_config",
]

# Keys that moved: (old section, old key) -> (new section, new key). A file or environment that still sets the old
# name keeps working, with a warning that names the new one.
MOVED_KEYS = {
    ("split", "annotate_train_per_task"): ("annotation_budget", "train_per_task"),
    ("split", "annotate_margin"): ("annotation_budget", "margin"),
    ("split", "annotate_even_factor"): ("annotation_budget", "even_factor"),
    ("split", "annotate_all"): ("annotation_budget", "all_records"),
}


# Keys the build used to set in a source's section (its evidence folder, now handed to the adapter): still accepted
# in a file, with a warning, and ignored; the fingerprint keeps their old (unset) value.
RETIRED_SOURCE_KEYS = {"evidence_dir": ("skindeep", "realtalk", "telecom_fraud", "efaqa")}


class BuildConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUMANSENSE_", env_nested_delimiter="__", extra="forbid")

    seed: int = 2026  # every seeded choice (selection, templates, options, QC sample) derives from it
    sources: SourcesConfig = SourcesConfig()
    media: MediaConfig = MediaConfig()
    annotators: AnnotatorsConfig = AnnotatorsConfig()
    augment: AugmentConfig = AugmentConfig()
    split: SplitConfig = SplitConfig()
    annotation_budget: AnnotationBudgetConfig = AnnotationBudgetConfig()
    qc: QcConfig = QcConfig()
    release: ReleaseConfig = ReleaseConfig()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        # Precedence: explicit arguments > environment > the TOML file (when load_config was given one) > defaults.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """Old names (MOVED_KEYS) read under their new ones, with a warning; both set is a conflict."""
        if not isinstance(data, dict):
            return data
        sources = data.get("sources")
        for key, names in RETIRED_SOURCE_KEYS.items():
            for name in names:
                section = sources.get(name) if isinstance(sources, dict) else None
                if isinstance(section, dict) and key in section:
                    warnings.warn(f"config: [sources.{name}] {key} is set by the build; the value in the config is "
                                  f"ignored", FutureWarning, stacklevel=2)
                    sources = {**sources, name: {k: v for k, v in section.items() if k != key}}
                    data = {**data, "sources": sources}
        for (old_section, old_key), (new_section, new_key) in MOVED_KEYS.items():
            section = data.get(old_section)
            if not isinstance(section, dict) or old_key not in section:
                continue
            section = dict(section)
            value = section.pop(old_key)
            target = dict(data.get(new_section) or {})
            if new_key in target and target[new_key] != value:
                raise ValueError(f"[{old_section}] {old_key} (an old name) and [{new_section}] {new_key} are both set: "
                                 f"keep [{new_section}] {new_key}")
            target[new_key] = value
            warnings.warn(f"config: [{old_section}] {old_key} is now [{new_section}] {new_key}; the old name is "
                          f"read for now", FutureWarning, stacklevel=2)
            data = {**data, old_section: section, new_section: target}
        return data

    def fingerprint(self) -> str:
        """A digest of what the config says, in one canonical layout: moved keys count under their old names, so a
        config that only moved keys keeps its fingerprint (build reports stay comparable across versions)."""
        dump = self.model_dump(mode="json")
        for (old_section, old_key), (new_section, new_key) in MOVED_KEYS.items():
            dump[old_section][old_key] = dump[new_section].pop(new_key)
        for new_section in {new for new, _ in MOVED_KEYS.values()}:
            if not dump[new_section]:
                del dump[new_section]
        for key, names in RETIRED_SOURCE_KEYS.items():
            for name in names:
                dump["sources"][name][key] = None
        return digest(dump)


class ConfigError(ValueError):
    """Config problems, one line each (`sources.ava.annotation_file: unknown key; did you mean annotation_files?`),
    found before anything starts."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config model that holds the key at `loc` (for suggestions)."""
    model: type[BaseModel] = BuildConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _problem(error: dict) -> str:
    loc = tuple(error.get("loc", ()))
    where = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        section = _section_at(loc)
        known = list(section.model_fields) if section else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else (f"; known keys: {', '.join(known)}" if known else "")
        return f"{where}: unknown key{hint}"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    return f"{where}: {error['msg'][0].lower() + error['msg'][1:]}{shown}"


def _env_sets(path_parts: tuple[str, ...]) -> bool:
    """Whether the environment sets this key (HUMANSENSE_SOURCES__AVA__ROOT)."""
    name = "HUMANSENSE_" + "__".join(path_parts).upper()
    return any(k.upper() == name for k in os.environ)


def _resolve_relative(config: BuildConfig, base: Path) -> None:
    """Relative folders given in the file are relative to the file, not to where the command runs."""
    for name in type(config.sources).model_fields:
        source = getattr(config.sources, name)
        if source.root is not None and not source.root.is_absolute() and not _env_sets(("sources", name, "root")):
            source.root = (base / source.root).resolve()
    manifest = config.sources.skindeep.fetch.manifest
    if manifest is not None and not manifest.is_absolute():
        config.sources.skindeep.fetch.manifest = (base / manifest).resolve()
    cache = config.annotators.cache_dir
    if cache is not None and not cache.is_absolute() and not _env_sets(("annotators", "cache_dir")):
        config.annotators.cache_dir = (base / cache).resolve()


def load_config(path: Path | None = None, **overrides: Any) -> BuildConfig:
    """Defaults < config file < environment < explicit overrides. Raises ConfigError (one line per problem, naming
    the file) for a missing or malformed file, an unknown key or a bad value."""
    try:
        if path is None:
            return BuildConfig(**overrides)
        if not Path(path).is_file():
            raise ConfigError([f"{path}: config file not found"])
        try:
            tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError([f"{path}: not valid TOML ({e})"]) from None
        with_file = type("BuildConfig", (BuildConfig,),
                         {"model_config": {**BuildConfig.model_config, "toml_file": Path(path)}})
        config = with_file(**overrides)
    except ValidationError as e:
        prefix = f"{path}: " if path is not None else ""
        raise ConfigError([prefix + _problem(err) for err in e.errors()]) from None
    _resolve_relative(config, Path(path).resolve().parent)
    return config


def check_sample_use(config: BuildConfig) -> list[str]:
    """The enabled sources that read the embedded sample. Raises ConfigError when others read real downloads and
    the sample is not explicitly allowed: synthetic data must never pass for a real source."""
    enabled = config.sources.enabled()
    sample = sorted(n for n, c in enabled.items() if c.root is None)
    real = sorted(n for n, c in enabled.items() if c.root is not None)
    if sample and real and not config.release.allow_sample:
        raise ConfigError([
            f"sources {', '.join(sample)} have no root and would read the embedded synthetic sample while "
            f"{', '.join(real)} read real downloads; give them a root, switch them off "
            f"([sources.{sample[0]}] enabled = false), or allow the sample ([release] allow_sample = true)"])
    return sample


def _flatten(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(data, dict) and data:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in data.items():
            out |= _flatten(v, prefix + (str(k),))
        return out
    return {prefix: data}


def _defaults(model: type[BaseModel]) -> dict:
    out = {}
    for name, field in model.model_fields.items():
        value = field.get_default(call_default_factory=True)
        out[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return out


def explain_config(path: Path | None = None) -> list[tuple[str, Any, str]]:
    """(key, effective value, where it came from: default, file, environment) for every setting."""
    effective = _flatten(load_config(path).model_dump(mode="json"))
    defaults = _flatten(_defaults(BuildConfig))
    from_file = _flatten(tomllib.loads(Path(path).read_text(encoding="utf-8"))) if path else {}
    old_names = {new: old for old, new in MOVED_KEYS.items() if old in from_file}  # read under their new names
    rows = []
    for key, value in effective.items():
        if any(_env_sets(key[:n]) for n in range(1, len(key) + 1)):
            origin = "environment"
        elif key in old_names:
            origin = f"file {path} (as [{old_names[key][0]}] {old_names[key][1]})"
        elif any(key[:n] in from_file for n in range(1, len(key) + 1)):
            origin = f"file {path}"
        else:
            origin = "default" if defaults.get(key, value) == value else "default (set by the build)"
        rows.append((".".join(key), value, origin))
    return rows
