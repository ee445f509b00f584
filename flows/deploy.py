"""The `build-humansense/<name>` deployment, served by this process (Prefect's `flow.serve`).

    humansense deploy serve --name nightly --cron "0 3 * * *" --out /data/hs-build --config /data/hs.toml
    prefect deployment run 'build-humansense/nightly' --watch --watch-timeout 3600

The serving process polls the Prefect API (PREFECT_API_URL) and runs each triggered or scheduled run as a
subprocess. Parameters given at trigger time (`--param out=...`) override those given here.
"""

from __future__ import annotations

from humansense.flows.build import build_humansense


def serve(name: str, cron: str | None, out: str, config_file: str | None, push: bool, repo_id: str | None) -> None:
    build_humansense.serve(
        name=name, cron=cron, tags=["humansense"],
        description="Rebuild the HumanSense benchmark into <out>/release (and push it to the Hub when push=true).",
        parameters={"out": out, "config_file": config_file, "push": push, "repo_id": repo_id})
