"""One Prefect API for a build and all its workers.

With no PREFECT_API_URL, Prefect starts a temporary server in the first process that needs one: the build's, and
then every worker process of the `processes` and `dask` runners its own (seconds of start-up each, a database of its
own, the task states spread over several servers). A build that runs its tasks in other processes on this machine
starts one temporary server itself and hands its address to the workers with the settings Prefect sends along with
each task. A worker on another machine could not reach a server that listens on 127.0.0.1, so a cluster with any
such worker keeps Prefect's own behaviour (and the build log says so)."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

from humansense.terminal import STAGES as log  # the build's own lines: the terminal and the log


def is_this_machine(host: str) -> bool:
    """Whether `host` is an address of this machine (binding a socket to it succeeds only for a local address)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.bind((address[0], 0))
            return True
        except OSError:
            continue
    return False


def dask_worker_hosts(address: str, timeout: float = 30) -> set[str]:
    """The hosts of the workers connected to the Dask scheduler at `address` now."""
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        return {urlsplit(worker).hostname or "" for worker in client.scheduler_info()["workers"]}


def workers_share_this_machine(runner: str, dask_address: str | None) -> bool:
    """Whether every process that will run the build's tasks can reach a server on this machine's 127.0.0.1."""
    if runner == "threads":
        return False  # one process: Prefect's own temporary server is already the only one
    if runner == "processes" or not dask_address:
        return True  # Prefect's process pool or a LocalCluster: children of this process
    try:
        hosts = dask_worker_hosts(dask_address)
    except Exception as e:  # the runner reports an unreachable scheduler itself, with Dask's own words
        log.info("Dask scheduler %s not asked for its workers (%s): each worker keeps its own Prefect server",
                 dask_address, e)
        return False
    remote = sorted(h for h in hosts if not is_this_machine(h))
    if remote:
        log.info("Dask workers on other machines (%s): each worker starts its own temporary Prefect server; set "
                 "PREFECT_API_URL to a server they all reach to keep the task states in one place", ", ".join(remote))
    return bool(hosts) and not remote


@contextmanager
def shared_temporary_api(runner: str, dask_address: str | None = None) -> Iterator[str | None]:
    """Run the body against one temporary Prefect server that the build's workers use too; yields its URL, or None
    where Prefect's own behaviour stays (an API already configured, one process, workers elsewhere)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value() or not workers_share_this_machine(runner, dask_address):  # the environment's too
        yield None
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            log.info("one temporary Prefect server for the build and its workers: %s", server.api_url)
            try:
                yield server.api_url
            finally:  # a failed build's logs too
                drain_to_api()
    finally:
        server.stop()


def drain_to_api(timeout: float = 30) -> None:
    """Send the logs and events Prefect still holds while the server is up (sent after it stopped, they would be
    retried against a closed port for a minute and end as "Error logging to API" on the terminal)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception as e:  # what could not be sent is Prefect's bookkeeping, not the build's output
            log.info("Prefect's %s not drained: %s", worker.__name__, e)
