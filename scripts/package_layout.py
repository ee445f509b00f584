"""Lay the `humansense` package out as its wheel installs it, in another folder: the stage folders (`sources/`,
`annotators/`, ...) sit at the repository's top level and are installed as subpackages of `humansense` (pyproject's
`package-dir`). For a frozen copy of the code (the "before" of bench/release_identity.py) and for a copy to break on
purpose (tests/test_layers.py); in the repository itself the stage folders are linked inside `humansense/`.

    python3 scripts/package_layout.py DEST          # DEST/humansense/... (Python files only; links unless --copy)

Run code from it with PYTHONPATH=DEST: the folder on the path is found before the editable install's finder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """Package name -> its folder, for the project's Python packages (data folders have no `package-dir` entry)."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: root / folder for name, folder in setuptools["package-dir"].items()}


def lay_out(dest: Path, root: Path = ROOT, copy: bool = False) -> Path:
    """Mirror every Python file of the project's packages under `dest`, at the path its module name gives; the data
    the sample synthesises from comes along (package data), so the copy runs a build."""
    for name, folder in package_dirs(root).items():
        target = dest.joinpath(*name.split("."))
        for path in folder.rglob("*"):
            if "__pycache__" in path.parts or path.is_dir():
                continue
            relative = path.relative_to(folder)
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copy2(path, out)
            else:
                os.symlink(path, out)
    return dest / "humansense"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--copy", action="store_true", help="copy the files (a frozen snapshot) instead of linking")
    args = parser.parse_args()
    print(lay_out(args.dest, copy=args.copy))


if __name__ == "__main__":
    main()
