"""The `build-humansense/<name>` deployment, served by this process (Prefect's `flow.serve`).

    humansense deploy serve --name nightly --cron "0 3 * * *" --out /data/hs-build --config /data/hs.toml
    prefect deployment run 'build-humansense/nightly' --watch --watch-timeout 3600

The serving process polls the Prefect API (PREFECT_API_URL) and runs each triggered or scheduled run as a
subprocess. Parameters given at trigger time (`--param out=...`) override those given here.
"""

from __future__ import annotations

from humansense.flows.build import build_humansense, with_runner


def serve(name: str, cron: str | None, out: str, config_file: str | None, push: bool, repo_id: str | None,
          runner: str = "threads", workers: int = 1, gpu_devices: tuple[str, ...] = ()) -> None:
    """Serve the flow with the task runner `with_runner` makes of (runner, workers, gpu_devices): the runner keeps
    the flow object it serves, its task runner included."""
    with_runner(build_humansense, runner, None, workers, gpu_devices).serve(
        name=name, cron=cron, tags=["humansense"],
        description="Rebuild the HumanSense benchmark into <out>/release (and push it to the Hub when push=true).",
        parameters={"out": out, "config_file": config_file, "push": push, "repo_id": repo_id})
