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


def run_isolated(code: str, timeout: float = 300) -> dict:
    """Run Python `code` in a fresh interpreter and return the JSON it prints last. Media decoding (torchcodec, which
    `datasets` uses) runs there: torchcodec's FFmpeg brings an LLVM that aborts a process where TensorFlow (the
    emotion engine, loaded by the session's builds) registered its own first."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness) -> str:
    """The session's Prefect server, for CLI builds in processes of their own (each would start a temporary one,
    seconds of start-up and a new database a build)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


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


@pytest.fixture
def qc_build(sample_build, tmp_path: Path) -> Path:
    """A private copy of the sample build's release and QC sample (reviews here touch nothing else)."""
    import shutil

    from humansense.qc.store import SAMPLE_FILE

    out = sample_build[0]
    build = tmp_path / "build"
    shutil.copytree(out / "release", build / "release")
    (build / "qc").mkdir()
    shutil.copy(out / "qc" / SAMPLE_FILE, build / "qc" / SAMPLE_FILE)
    return build


class LocalHost:
    """A folder served over HTTP on 127.0.0.1 (a stand-in for a video site), recording the paths requested."""

    def __init__(self, site: Path):
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        self.site, self.hits = site, []
        self.routes: dict = {}  # path prefix -> respond(handler): misbehaviour on chosen paths
        hits, routes = self.hits, self.routes

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, fmt, *args):
                hits.append(self.path)

            def do_GET(self):
                for prefix, respond in routes.items():
                    if self.path.startswith(prefix):
                        hits.append(self.path)
                        return respond(self)
                return super().do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def video(self, name: str, seconds: float, size: str = "320x240") -> Path:
        """An H.264/AAC MP4 (test pattern and a tone) at `<site>/<name>.mp4`; the tone differs by name, so each
        video's content is its own."""
        import subprocess
        import zlib

        tone = 200 + zlib.crc32(name.encode()) % 800

        path = self.site / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                        "-f", "lavfi", "-i", f"sine=frequency={tone}", "-t", str(seconds), "-c:v", "libx264", "-g", "25",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)],
                       check=True, timeout=60)
        return path

    def page(self, name: str, title: str, video: str) -> str:
        """An episode page embedding `video`; returns its URL."""
        (self.site / f"{name}.html").write_text(f"<html><head><title>{title}</title></head><body>"
                                                f'<video src="{video}" controls></video></body></html>')
        return f"{self.url}/{name}.html"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web_host(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    host = LocalHost(site)
    yield host
    host.close()
