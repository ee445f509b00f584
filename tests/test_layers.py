"""The stages' import contract (pyproject's `[tool.importlinter]`): imports point only back along the data's order.

import-linter reads one package's folder: the stage folders sit beside `humansense/` (the design card's layout) and
are linked inside it (`humansense/sources -> ../sources`, as the wheel installs them), so a plain `lint-imports` in
the repository sees the whole package. The deliberate break is made in a copy laid out as the wheel lays it out
(scripts/package_layout.py), never in the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from package_layout import lay_out, package_dirs  # noqa: E402

LINT = Path(sys.executable).with_name("lint-imports")
CONTRACT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]


def lint(layout: Path) -> subprocess.CompletedProcess:
    # From the layout's folder (lint-imports puts its working folder first on the path): `humansense` is found there.
    return subprocess.run([str(LINT), str(ROOT / "pyproject.toml"), "--no-cache"], cwd=layout, capture_output=True,
                          text=True, env=os.environ | {"PYTHONPATH": str(layout)}, timeout=120)


def layer_modules(layer: str) -> set[str]:
    return {m.strip() for m in layer.replace("|", ":").split(":") if m.strip()}


def test_the_stages_keep_their_layers():
    """`lint-imports` as a developer (or CI) runs it, in the repository."""
    run = lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{CONTRACT['name']} KEPT" in run.stdout and "1 kept, 0 broken" in run.stdout


def test_the_stage_folders_are_linked_where_the_package_installs_them():
    for name, folder in package_dirs().items():
        if name != "humansense":
            link = ROOT / "humansense" / name.split(".")[1]
            assert link.is_symlink() and link.resolve() == folder.resolve(), f"{link} -> {folder.name}"


def test_an_import_against_the_order_breaks_the_contract(tmp_path: Path):
    """An annotation step that reached into publish (a later stage) fails the suite, naming the import."""
    lay_out(tmp_path)
    steps = tmp_path / "humansense" / "annotators" / "steps.py"
    text = steps.read_text()
    steps.unlink()  # a link to the real file: write a changed copy instead
    steps.write_text(text + "\nfrom humansense.release import card  # against the order\n")
    run = lint(tmp_path)
    assert run.returncode == 1, run.stdout
    assert f"{CONTRACT['name']} BROKEN" in run.stdout
    assert "humansense.annotators.steps -> humansense.release.card" in run.stdout


def test_every_module_has_its_layer():
    """A new core module or stage folder must be placed in the contract, not slip past it."""
    named = set().union(*(layer_modules(layer) for layer in CONTRACT["layers"]))
    stages = {name for name in package_dirs() if name != "humansense"}
    core = {f"humansense.{p.stem}" for p in (ROOT / "humansense").glob("*.py") if p.stem != "__init__"}
    core |= {f"humansense.{p.name}" for p in (ROOT / "humansense").iterdir() if (p / "__init__.py").exists()}
    assert stages | core == named, f"not in the contract: {sorted((stages | core) - named)}; " \
                                   f"named but absent: {sorted(named - stages - core)}"


@pytest.mark.parametrize("stage", ["annotators", "sources", "selection", "clips", "augment", "qc", "release"])
def test_stage_docstrings_say_what_the_folder_holds(stage: str):
    doc = (ROOT / stage / "__init__.py").read_text()
    assert doc.startswith('"""') and len(doc.split('"""')[1].split()) >= 8, f"{stage}/__init__.py: say what it holds"


def test_code_keys_cover_what_a_stage_imports_at_any_depth_and_load_no_engine():
    """A stage's code key is found from its imports, not listed by hand: augment's covers the option pools of the
    sources it imports (a list by hand had them), annotation's the LLM prompts its steps reach through speech and
    rapport (a list by hand had left `llm` out); finding them imports no engine runtime."""
    code = ("import json, sys\n"
            "from humansense.keyed import _closure, code_key\n"
            "augment = _closure('humansense.augment.build', 'humansense')\n"
            "steps = _closure('humansense.annotators.shards', 'humansense.annotators')\n"
            "code_key('humansense.augment.build')\n"
            "print(json.dumps({'augment': sorted(augment), 'steps': sorted(steps), 'loaded': [m for m in "
            "('tensorflow', 'fer', 'torch', 'paddle', 'faster_whisper', 'ctranslate2') if m in sys.modules]}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    found = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert {"humansense.sources.pools", "humansense.clips.stage", "humansense.selection.select",
            "humansense.schema"} <= set(found["augment"]) and "humansense.config" not in found["augment"]
    assert {"humansense.annotators.llm", "humansense.annotators.steps",
            "humansense.annotators.tts"} <= set(found["steps"])
    assert not any(m.startswith(("humansense.sources", "humansense.release")) for m in found["steps"])
    assert found["loaded"] == []
