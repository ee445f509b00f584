"""The configuration and CLI references in `docs/`, generated from the code they describe.

The configuration's meanings are the comments beside (or just above) each field in `humansense/config.py`, or a
field's `description`; the CLI's are typer's help texts. `scripts/gen_reference.py` writes both pages, and a test
fails when a key or a command has no meaning or the pages are not what the code gives now.
"""

from __future__ import annotations

import inspect
import io
import re
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from humansense.cli import app
from humansense.config import MOVED_KEYS, BuildConfig

FIELD_LINE = re.compile(r"^\s{4}(\w+)\s*:")


@dataclass(frozen=True)
class ConfigKey:
    section: str  # "" for the top level, e.g. "annotators.llm"
    name: str
    type: str
    default: str
    meaning: str


def _field_comments(cls: type) -> dict[str, str]:
    """Each field of the class body's own source: its trailing comment, else the comment lines just above it."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    out: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = FIELD_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        statement_end = number
        while statement_end < len(lines) and _open_brackets("\n".join(lines[number - 1:statement_end])) > 0:
            statement_end += 1
        trailing = [comments[n] for n in range(number, statement_end + 1) if n in comments
                    and not lines[n - 1].lstrip().startswith("#")]
        above, n = [], number - 1
        while n >= 1 and lines[n - 1].lstrip().startswith("#"):
            above.insert(0, comments.get(n, ""))
            n -= 1
        text = " ".join(trailing) or " ".join(above)
        if text:
            out.setdefault(match.group(1), text)
    return out


def _open_brackets(text: str) -> int:
    depth = 0
    for char in re.sub(r"#.*", "", text):
        depth += char in "([{"
        depth -= char in ")]}"
    return depth


def _meanings(model: type[BaseModel]) -> dict[str, str]:
    """Field meanings of a model and the classes it inherits from (the nearest class's wins)."""
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__.startswith("humansense"):
            out.update(_field_comments(cls))
    return out


def _type_name(annotation: object) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " | ".join(repr(a).replace("'", '"') for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return "None" if annotation is type(None) else str(annotation).replace("typing.", "")


def _default(value: object) -> str:
    if isinstance(value, Path):
        value = str(value)
    text = repr(value).replace("'", '"')
    return "unset" if value is None else text


def config_keys(model: type[BaseModel] | None = None, section: str = "") -> Iterator[ConfigKey]:
    """Every key of the build configuration, sections depth first, in the order the models declare them."""
    if model is None:
        model = BuildConfig
    meanings = _meanings(model)
    nested = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((name, annotation))
            continue
        meaning = field.description or meanings.get(name, "")
        default = field.default if field.default_factory is None else field.default_factory()
        yield ConfigKey(section, name, _type_name(annotation), _default(default), meaning)
    for name, sub in nested:
        yield from config_keys(sub, f"{section}.{name}" if section else name)


def config_sections(model: type[BaseModel] | None = None, section: str = "") -> Iterator[tuple[str, str]]:
    """(section, meaning) of every nested section, for the headings."""
    if model is None:
        model = BuildConfig
    meanings = _meanings(model)
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            path = f"{section}.{name}" if section else name
            own_doc = inspect.cleandoc(annotation.__dict__.get("__doc__") or "")
            yield path, field.description or meanings.get(name, "") or " ".join(own_doc.split("\n\n")[0].split())
            yield from config_sections(annotation, path)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    keys = list(config_keys())
    sections = dict(config_sections())
    out = ["# Configuration reference", "",
           "Generated from the config models (`humansense/config.py`, `humansense/sections.py`, each source's beside its",
           "adapter in `sources/`) by `scripts/gen_reference.py`; do not edit by hand. A build reads one",
           "TOML file (`--config`), and every key can be set from the environment: `HUMANSENSE_` + the key path with",
           "`__` between its parts (`HUMANSENSE_SOURCES__AVA__ROOT=/data/ava`). `humansense config show` prints each",
           "key's value and where it came from. A source whose `root` is unset reads the embedded sample.", ""]
    current = None
    for key in keys:
        if key.section != current:
            current = key.section
            title = f"`[{current}]`" if current else "Top level"
            out += ["", f"## {title}", ""]
            if sections.get(current):
                out += [_cell(sections[current]), ""]
            out += ["| key | type | default | meaning |", "|---|---|---|---|"]
        out.append(f"| `{key.name}` | {_cell(key.type)} | `{_cell(key.default)}` | {_cell(key.meaning)} |")
    out += ["", "## Keys that moved", "",
            "A file or environment that still sets an old name keeps working: the value is read under the new name, "
            "with a warning that names it (both set to different values is an error).", "",
            "| old key | new key |", "|---|---|"]
    out += [f"| `[{old[0]}] {old[1]}` | `[{new[0]}] {new[1]}` |" for old, new in MOVED_KEYS.items()]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CliCommand:
    path: str  # "humansense qc serve"
    help: str
    options: list[tuple[str, str, str]]  # (flags or argument name, default, help)


def cli_commands() -> list[CliCommand]:
    import typer

    root = typer.main.get_command(app)  # typer's own click (typer._click): told apart by what they hold
    out: list[CliCommand] = []

    def walk(command, path: str) -> None:
        if hasattr(command, "commands"):
            for name in sorted(command.commands):
                walk(command.commands[name], f"{path} {name}")
            return
        options = []
        for param in command.params:
            if param.name == "help":
                continue
            is_option = param.param_type_name == "option"
            flags = " / ".join(param.opts + param.secondary_opts) if is_option else param.name.upper()
            value = str(param.default) if isinstance(param.default, Path) else param.default
            default = "" if value in (None, ()) or param.required else repr(value).replace("'", '"')
            options.append((flags, default, getattr(param, "help", None) or ""))
        out.append(CliCommand(path, (command.help or "").strip(), options))

    walk(root, "humansense")
    return out


def cli_reference() -> str:
    out = ["# CLI reference", "",
           "Generated from `humansense/cli/` (typer) by `scripts/gen_reference.py`; do not edit by hand.",
           "`humansense COMMAND --help` prints the same."]
    for command in cli_commands():
        out += ["", f"## `{command.path}`", "", command.help.split("\n\n")[0].replace("\n", " "), ""]
        if command.options:
            out += ["| argument or option | default | meaning |", "|---|---|---|"]
            out += [f"| `{_cell(flags)}` | {f'`{_cell(d)}`' if d else ''} | {_cell(h)} |"
                    for flags, d, h in command.options]
    return "\n".join(out) + "\n"


REFERENCES = {"docs/config.md": config_reference, "docs/cli.md": cli_reference}


def write_references(root: Path) -> list[Path]:
    written = []
    for name, make in REFERENCES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        written.append(path)
    return written
