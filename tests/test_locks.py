"""The locks in requirements/ agree with the requirements they are compiled from (scripts/lock.sh), and each
environment that scripts/setup.sh makes holds exactly its lock."""

from __future__ import annotations

import re
import tomllib
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
# What the locks are compiled for (scripts/lock.sh): markers are evaluated for this platform.
LOCK_PLATFORM = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
                 "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                 "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
# Installed by scripts/setup.sh beside dev.lock, without dependencies; opencv-python is left out of the lock on
# purpose (scripts/lock.sh: opencv-contrib-python provides the same cv2).
NOT_LOCKED = {"humansense-build", "fer", "opencv-python"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def lock_pins(text: str) -> dict[str, Version]:
    return {canonicalize_name(m[1]): Version(m[2]) for m in map(PIN.match, text.splitlines()) if m}


def in_file_requirements(text: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def project_requirements(pyproject_text: str) -> list[Requirement]:
    """The dependencies and every extra (the dev lock is compiled with `all` and `test`, which span them)."""
    project = tomllib.loads(pyproject_text)["project"]
    specs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        specs += group
    return [Requirement(s) for s in specs]


def drift(requirements: list[Requirement], pins: dict[str, Version]) -> list[str]:
    """Each requirement the lock misses or no longer satisfies, in words."""
    problems = []
    for req in requirements:
        if req.marker and not req.marker.evaluate(LOCK_PLATFORM):
            continue
        name = canonicalize_name(req.name)
        if name in NOT_LOCKED:
            continue
        if name not in pins:
            problems.append(f"{req}: not in the lock (run bash scripts/lock.sh)")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: the lock pins {name}=={pins[name]} (run bash scripts/lock.sh)")
    return problems


def locked_inputs() -> dict[str, list[Requirement]]:
    read = lambda name: (REQUIREMENTS / name).read_text()  # noqa: E731
    return {"dev.lock": project_requirements((ROOT / "pyproject.toml").read_text()) + in_file_requirements(read("dev.in")),
            "labelstudio.lock": in_file_requirements(read("labelstudio.in")),
            "lmms-eval.lock": in_file_requirements(read("lmms-eval.in"))}


@pytest.mark.parametrize("lock", ["dev.lock", "labelstudio.lock", "lmms-eval.lock"])
def test_each_lock_satisfies_the_requirements_it_is_compiled_from(lock: str):
    pins = lock_pins((REQUIREMENTS / lock).read_text())
    assert len(pins) > 50  # every transitive package, not only the direct ones
    assert drift(locked_inputs()[lock], pins) == []


def test_a_requirement_changed_without_relocking_is_reported():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pins = lock_pins((REQUIREMENTS / "dev.lock").read_text())
    added = pyproject.replace('"pandas>=2.2",', '"pandas>=2.2",\n  "tabulate-extra-never-locked>=1.0",')
    raised = pyproject.replace('"pandas>=2.2",', f'"pandas>{pins["pandas"]}",')
    assert added != pyproject and raised != pyproject
    assert drift(project_requirements(added), pins) == [
        "tabulate-extra-never-locked>=1.0: not in the lock (run bash scripts/lock.sh)"]
    assert drift(project_requirements(raised), pins) == [
        f"pandas>{pins['pandas']}: the lock pins pandas=={pins['pandas']} (run bash scripts/lock.sh)"]


def test_one_distribution_provides_cv2():
    """Two OpenCV distributions would write one cv2 folder, the last installed winning (OpenCV 5's has no
    CascadeClassifier, which fer's face detector needs)."""
    pins = lock_pins((REQUIREMENTS / "dev.lock").read_text())
    assert [name for name in pins if name.startswith("opencv")] == ["opencv-contrib-python"]


def test_the_label_studio_lock_keeps_sentry_sdk_below_3():
    # label-studio 1.23.2 passes sentry_sdk.init an option (send_default_pii) that sentry-sdk 3 removed.
    assert lock_pins((REQUIREMENTS / "labelstudio.lock").read_text())["sentry-sdk"] < Version("3")


def installed(venv: Path) -> dict[str, Version]:
    found = {}
    for meta in venv.glob("lib/python3*/site-packages/*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(meta.read_text(errors="replace"))
        found[canonicalize_name(headers["Name"])] = Version(headers["Version"])
    return found


@pytest.mark.parametrize("venv, lock", [(".venv", "dev.lock"), (".venv-labelstudio", "labelstudio.lock"),
                                        (".venv-lmms-eval", "lmms-eval.lock")])
def test_each_environment_is_exactly_its_lock(venv: str, lock: str):
    """What scripts/setup.sh installed is what the lock says: no package missing, none of another version, none
    extra (beyond the project and fer)."""
    assert (ROOT / venv).is_dir(), f"{venv} is missing: run bash scripts/setup.sh"
    have = {n: v for n, v in installed(ROOT / venv).items() if n not in NOT_LOCKED}
    assert have == lock_pins((REQUIREMENTS / lock).read_text())
