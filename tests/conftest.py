from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Prefect reads its settings on import: give the whole session a private home and result store first, so cached
# results never leak between test runs (or into the developer's ~/.prefect).
_PREFECT_TMP = Path(tempfile.mkdtemp(prefix="humansense-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_TMP / "home")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(_PREFECT_TMP / "results")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)
os.environ["HF_HOME"] = str(_PREFECT_TMP / "hf")  # datasets' cache, kept out of the user's home


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_roots(tmp_path_factory) -> dict[str, Path]:
    """The embedded sample with its media synthesised (once per session)."""
    from humansense.sample import materialize

    return materialize(tmp_path_factory.mktemp("sample"))


def only_sources(*keep: str) -> str:
    """Config lines that switch off every source but `keep` (so a test builds only what it is about)."""
    from humansense.config import SourcesConfig

    return "".join(f"[sources.{n}]\nenabled = false\n" for n in SourcesConfig.model_fields if n not in keep)


def sample_config(sample_roots: dict[str, Path], path: Path, extra: str = "") -> Path:
    # The sample is ours (synthetic): its clips go into the release whatever the real sources' licences say.
    lines = ["seed = 2026", "[media]", "batch_size = 4", "[release]", 'media_mode = "files"']
    for name, root in sample_roots.items():
        lines += [f"[sources.{name}]", f'root = "{root}"']
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.fixture(scope="session")
def sample_build(prefect_harness, sample_roots, tmp_path_factory):
    """The sample built twice into one folder: (out, first report, second report, items bytes after the first)."""
    from humansense.flows.build import build_humansense

    out = tmp_path_factory.mktemp("build")
    config = sample_config(sample_roots, out / "humansense.toml")
    first = build_humansense(out=str(out), config_file=str(config))
    items_first = sorted((p.relative_to(out).as_posix(), p.read_bytes())
                         for p in (out / "release" / "data").glob("*/*.parquet"))
    second = build_humansense(out=str(out), config_file=str(config))
    return out, first, second, items_first
