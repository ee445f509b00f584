"""Orchestration as users run it: a real local Prefect server, the served deployment triggered with
`prefect deployment run 'build-humansense/<name>'`, and the Dask task runner giving the same items."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from humansense.release.score import load_items

from conftest import only_sources, sample_config

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:g} s")


def healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_deployment_run_rebuilds_the_release(sample_roots, tmp_path: Path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_UI_ENABLED="false", DO_NOT_TRACK="1", PREFECT_RUNNER_POLL_FREQUENCY="1",
               PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp_path / "results"))
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    serve = None
    try:
        wait_for(lambda: healthy(api), 120, "prefect server")
        config = sample_config({"jester": sample_roots["jester"], "tao": sample_roots["tao"]}, tmp_path / "c.toml",
                               only_sources("jester", "tao"))
        out = tmp_path / "build"
        serve = subprocess.Popen([str(BIN / "humansense"), "deploy", "serve", "--name", "ci", "--cron", "0 3 * * *",
                                  "--out", str(out), "--config", str(config)],
                                 env=env, stdout=open(logs / "serve.log", "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        wait_for(lambda: subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "build-humansense/ci"],
                                        env=env, capture_output=True).returncode == 0, 120, "deployment")
        run = subprocess.run([str(BIN / "prefect"), "deployment", "run", "build-humansense/ci", "--watch",
                              "--watch-timeout", "300"], env=env, capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + (logs / "serve.log").read_text()[-3000:]
        report = json.loads((out / "release" / "build_report.json").read_text())
        assert report["items_per_task"]["GR"] == 5 and report["items_per_task"]["HC"] == 3
        inspect = subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "build-humansense/ci"], env=env,
                                 capture_output=True, text=True)
        assert "0 3 * * *" in inspect.stdout
    finally:
        if serve is not None:
            stop(serve)  # the runner before the server, or it hangs pausing its deployment
        stop(server)


def test_dask_runner_gives_the_same_items(prefect_harness, sample_roots, sample_build, tmp_path: Path):
    from humansense.flows.build import build_humansense, with_runner

    config = sample_config(sample_roots, tmp_path / "c.toml")
    report = with_runner(build_humansense, "dask")(out=str(tmp_path / "dask"), config_file=str(config))
    threads = {i.id: (i.answer, [o.text for o in i.options]) for i in load_items(sample_build[0] / "release")}
    dask = {i.id: (i.answer, [o.text for o in i.options]) for i in load_items(tmp_path / "dask" / "release")}
    assert dask == threads and report["items"] == len(threads)
