"""Orchestration as users run it: a real local Prefect server, the served deployment triggered with
`prefect deployment run 'build-humansense/<name>'`, and the Dask task runner giving the same items."""

from __future__ import annotations

import json
import os
import shutil
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


READ_RUN = """
import asyncio, json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter,
                                            FlowRunFilterState, FlowRunFilterStateType)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

async def main():
    async with get_client() as client:  # the latest finished run (the schedule keeps future runs waiting)
        finished = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[
            StateType.COMPLETED, StateType.FAILED, StateType.CRASHED])))
        run = (await client.read_flow_runs(flow_run_filter=finished, sort=FlowRunSort.END_TIME_DESC, limit=1))[0]
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
            any_=[run.id])))
        print(json.dumps({"state": run.state.name, "parameters": run.parameters,
                          "artifacts": {a.key: {"type": a.type, "data": a.data} for a in found}}))

asyncio.run(main())
"""

SECRET = "hf_deployment_secret_7f3a9c"


def _episodes(host, names: list[str]) -> str:
    """Manifest rows for episode pages of the local host (titles say the relation and how long)."""
    titles = {"ep1": "{THE AND} Married 6 Years with Sam &amp; Alex", "ep2": "{THE AND} Dating 8 Months | Jo &amp; Kim",
              "ep3": "{THE AND} Best Friends for 12 Years", "ep4": "{THE AND} Siblings: Mia &amp; Leo"}
    return "url,start,end\n" + "".join(f"{host.page(n, titles[n], f'{n}.mp4')},,\n" for n in names)


def test_deployment_run_fetches_builds_and_reports(sample_roots, web_host, tmp_path: Path):
    """The scheduled rebuild as its owners run it: the served deployment fetches new videos from a (local) web host,
    builds, and leaves the release diff and the run's artifacts readable through the Prefect client; a second run
    after one video appeared and one left the manifest shows exactly that change."""
    for name in ("ep1", "ep2", "ep3", "ep4"):
        web_host.video(name, 6, size="160x120")
    manifest = tmp_path / "skindeep.csv"
    manifest.write_text(_episodes(web_host, ["ep1", "ep2", "ep3"]))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_UI_ENABLED="false", DO_NOT_TRACK="1", PREFECT_RUNNER_POLL_FREQUENCY="1",
               PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp_path / "results"), HF_TOKEN=SECRET)
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    serve = None
    try:
        wait_for(lambda: healthy(api), 120, "prefect server")
        config = sample_config({"jester": sample_roots["jester"]}, tmp_path / "c.toml", only_sources(
            "jester", "skindeep") + f'[sources.skindeep]\nroot = "{tmp_path / "downloads"}"\n'
            f'[sources.skindeep.fetch]\nmanifest = "{manifest}"\nsleep_s = 0\n')
        out = tmp_path / "build"
        serve = subprocess.Popen([str(BIN / "humansense"), "deploy", "serve", "--name", "ci", "--cron", "0 3 * * *",
                                  "--out", str(out), "--config", str(config)],
                                 env=env, stdout=open(logs / "serve.log", "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        wait_for(lambda: subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "build-humansense/ci"],
                                        env=env, capture_output=True).returncode == 0, 120, "deployment")

        def deployment_run() -> tuple[dict, dict]:
            run = subprocess.run([str(BIN / "prefect"), "deployment", "run", "build-humansense/ci", "--watch",
                                  "--watch-timeout", "400"], env=env, capture_output=True, text=True, timeout=500)
            assert run.returncode == 0, (run.stdout[-2000:] + run.stderr[-2000:]
                                         + (logs / "serve.log").read_text()[-3000:])
            read = subprocess.run([sys.executable, "-c", READ_RUN], env=env, capture_output=True, text=True,
                                  timeout=120)
            assert read.returncode == 0, read.stderr[-2000:]
            return json.loads((out / "release" / "build_report.json").read_text()), json.loads(read.stdout)

        report, run = deployment_run()
        assert report["items_per_task"]["GR"] == 5 and report["items_per_task"]["RG"] >= 2
        assert report["fetch"]["skindeep"]["statuses"] == {"downloaded": 3}
        assert report["release_diff"]["summary"].startswith("first release")
        assert run["state"] == "Completed" and set(run["artifacts"]) == {
            "humansense-summary", "humansense-items", "humansense-quarantine", "humansense-bias-audit",
            "humansense-qc", "humansense-diff"}
        items = {row["task"]: row for row in json.loads(run["artifacts"]["humansense-items"]["data"])}
        assert items["GR"]["eval"] + items["GR"]["train"] == 5 and items["GR"]["paper"] == 300
        assert any(r["task"] == "GR" for r in json.loads(run["artifacts"]["humansense-bias-audit"]["data"]))
        assert "skindeep: 3 videos listed; downloaded 3" in run["artifacts"]["humansense-summary"]["data"]
        first_items = {i.id: i for i in load_items(out / "release")}

        web_host.hits.clear()
        manifest.write_text(_episodes(web_host, ["ep1", "ep3", "ep4"]))  # ep4 appears, ep2 leaves the manifest
        report, run = deployment_run()
        assert report["fetch"]["skindeep"]["new"] == ["ep4-1"] and report["fetch"]["skindeep"]["withdrawn"] == ["ep2-1"]
        assert {h for h in web_host.hits if h.endswith(".mp4")} == {"/ep4.mp4"}  # only the new video is fetched
        diff = json.loads((out / "release" / "release_diff.json").read_text())
        new_items = {i.id: i for i in load_items(out / "release")}
        added = {i for i in new_items if new_items[i].provenance.record_id == "ep4-1"}
        removed = {i for i in first_items if first_items[i].provenance.record_id == "ep2-1"}
        assert added and removed
        assert {a["id"] for a in diff["added"]} == added and {r["id"] for r in diff["removed"]} == removed
        assert {a["reason"] for a in diff["added"]} == {"new source record"}
        assert {r["reason"] for r in diff["removed"]} == {"quarantined: video removed"}
        assert diff["changed"] == [] and diff["counts"]["unchanged"] == len(first_items) - len(removed)
        table = json.loads(run["artifacts"]["humansense-diff"]["data"])
        assert sum(r["added"] for r in table) == len(added) and sum(r["changed"] for r in table) == 0
        assert SECRET not in json.dumps(run) and SECRET not in (logs / "serve.log").read_text()
        inspect = subprocess.run([str(BIN / "prefect"), "deployment", "inspect", "build-humansense/ci"], env=env,
                                 capture_output=True, text=True)
        assert "0 3 * * *" in inspect.stdout
    finally:
        if serve is not None:
            stop(serve)  # the runner before the server, or it hangs pausing its deployment
        stop(server)


@pytest.mark.parametrize("runner", ["dask", "processes"])
def test_other_runners_give_the_same_items(runner, prefect_harness, sample_roots, sample_build, tmp_path: Path):
    """Dask's workers and Prefect's process pool run the submitted stages (parse, annotate, cut) in other
    processes: the release is the same as the default threads' build. The annotation shards run on the workers
    against a copy of the threads build's annotator cache (the engines on workers are the cluster test's concern)."""
    from humansense.flows.build import build_humansense, with_runner

    config = sample_config(sample_roots, tmp_path / "c.toml")
    shutil.copytree(sample_build[0] / "cache" / "annotations", tmp_path / runner / "cache" / "annotations")
    report = with_runner(build_humansense, runner)(out=str(tmp_path / runner), config_file=str(config))
    threads = {i.id: (i.answer, [o.text for o in i.options]) for i in load_items(sample_build[0] / "release")}
    other = {i.id: (i.answer, [o.text for o in i.options]) for i in load_items(tmp_path / runner / "release")}
    assert other == threads and report["items"] == len(threads)
