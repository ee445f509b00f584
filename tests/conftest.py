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
