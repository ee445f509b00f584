"""The fault suite (`pytest -m faults`): builds killed, fed faulty services, hostile input, a failing disk, run as
users run them (the CLI in its own process, real files), ending in the release an undisturbed build gives."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from humansense.faults import ENV as KILL_ENV

from conftest import only_sources, sample_config

pytestmark = [pytest.mark.slow, pytest.mark.faults]
BIN = Path(sys.executable).parent
SEED = 2026


def run_build(out: Path, config: Path, server: str, kill: str | None = None, timeout: int = 600,
              home: Path | None = None) -> subprocess.CompletedProcess:
    """`humansense build` in its own process group (whatever a killed build started is stopped too), against the
    session's Prefect server at `server` as a user with a server runs it (the README's test covers a build's own
    temporary server); Prefect's home and the captured output go to `home` (default: beside `out`). The threads runner:
    a kill at a checkpoint is the build process's death (with worker processes, a checkpoint inside a worker would
    kill that worker alone, and count its calls apart)."""
    home = home or out.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != KILL_ENV}
    env.update(PREFECT_HOME=str(home / f"{out.name}-prefect"), PREFECT_API_URL=server,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    if kill:
        env[KILL_ENV] = kill
    log = home / f"{out.name}-{kill or 'run'}.log".replace(":", "-")
    with open(log, "w") as sink:  # a file, not a pipe: a killed build's orphans would hold a pipe open
        proc = subprocess.Popen([str(BIN / "humansense"), "build", "--out", str(out), "--config", str(config),
                                 "--runner", "threads"],
                                env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the build left running (its Prefect server)
            except ProcessLookupError:
                pass
    output = log.read_text(errors="replace")
    return subprocess.CompletedProcess(proc.args, proc.returncode, output, "")


def release_content(release: Path) -> dict[str, list[dict]]:
    """Every Parquet shard's rows, by path: what a user of the release reads."""
    return {p.relative_to(release).as_posix(): pq.read_table(p).to_pylist()
            for p in sorted(release.glob("data/*/*.parquet"))}


def manifest_holds(release: Path) -> bool:
    """Every file the release's manifest lists is there with its checksum (a whole release, not a mixture)."""
    manifest = json.loads((release / "manifest.json").read_text())
    return all(hashlib.sha256((release / rel).read_bytes()).hexdigest() == entry["sha256"]
               for rel, entry in manifest.items())


@pytest.fixture(scope="module")
def fault_config(sample_roots, tmp_path_factory) -> Path:
    """Jester (parsed, clips assembled from frames) and the fraud calls (annotated: translated from memory, spoken)."""
    folder = tmp_path_factory.mktemp("fault-config")
    return sample_config({n: sample_roots[n] for n in ("jester", "telecom_fraud")}, folder / "c.toml",
                         only_sources("jester", "telecom_fraud"))


@pytest.fixture(scope="module")
def reference(fault_config, prefect_api_url, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "build"
    done = run_build(out, fault_config, prefect_api_url)
    assert done.returncode == 0, done.stdout[-3000:]
    return out / "release"


def test_a_build_killed_in_every_stage_resumes_to_the_same_release(fault_config, reference, prefect_api_url,
                                                                    tmp_path: Path):
    rng = random.Random(SEED)  # seeded kill points: the n-th record, unit, clip or draft of each stage
    points = [f"annotate:{rng.randint(1, 3)}", f"parse:{rng.randint(1, 6)}", f"cut:{rng.randint(1, 4)}",
              f"augment:{rng.randint(1, 8)}", "publish:1"]
    out = tmp_path / "build"
    for point in points:  # each run resumes the last one's work and is killed one stage further on
        killed = run_build(out, fault_config, prefect_api_url, kill=point)
        assert killed.returncode == -signal.SIGKILL, f"{point} was never reached:\n{killed.stdout[-2000:]}"
        assert not (out / "release").exists(), f"killed at {point}, a release became visible"
    assert list(out.glob(".release.tmp-*")), "the publish kill left its temporary folder (never the release)"

    resumed = run_build(out, fault_config, prefect_api_url)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    release = out / "release"
    assert release_content(release) == release_content(reference)
    assert manifest_holds(release)
    report = json.loads((release / "build_report.json").read_text())
    # The work the killed runs finished is reused, not redone: every clip, the annotations and the parsed sources.
    media = report["media_tasks"]
    assert media["clips_cut"] == 0 and media["clips_reused"] + media["cached"] > 0
    assert report["annotation_tasks"]["cached"] == 1
    assert not list(out.glob(".release.tmp-*")), "a finished build leaves no temporary release behind"
    print(f"kill and resume: killed at {', '.join(points)}; the resumed build cut 0 clips, reused "
          f"{media['clips_reused']}, {media['cached']} of {media['total']} clip batches cached, annotate cached; "
          f"{sum(len(rows) for rows in release_content(release).values())} rows equal to the uninterrupted build's")


def test_a_kill_while_publishing_leaves_the_previous_release_whole(fault_config, reference, prefect_api_url,
                                                                   tmp_path: Path):
    out = tmp_path / "build"
    assert run_build(out, fault_config, prefect_api_url).returncode == 0
    before = release_content(out / "release")
    stamp = (out / "release" / "build_report.json").read_bytes()
    killed = run_build(out, fault_config, prefect_api_url, kill="publish:1")
    assert killed.returncode == -signal.SIGKILL
    assert (out / "release" / "build_report.json").read_bytes() == stamp  # the old release, untouched
    assert release_content(out / "release") == before and manifest_holds(out / "release")


# -- faulty services ------------------------------------------------------------------------------------------------

TRANSIENT = ("429", "500", "slow:0.3", "truncated", "malformed")


def _seeded_behaviour(seen: dict[str, int], invalid_share: float, transient_share: float):
    """Per request: a prompt the model always answers wrongly (well-formed, invalid: deterministic at temperature 0)
    at `invalid_share`; otherwise each attempt fails transiently at `transient_share` (429, 500, slow, a truncated
    body, malformed JSON), seeded by the prompt and the attempt, so concurrency does not change the outcome."""
    def behave(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        attempt = seen[prompt] = seen.get(prompt, 0) + 1
        if random.Random(f"{SEED}:{prompt}").random() < invalid_share:
            return "invalid"
        rng = random.Random(f"{SEED}:{prompt}:{attempt}")
        return rng.choice(TRANSIENT) if rng.random() < transient_share and attempt < 4 else "ok"
    return behave


def test_a_faulty_llm_server_is_absorbed_retried_and_accounted(prefect_harness, sample_roots, tmp_path: Path):
    """The fraud calls translated by an OpenAI-compatible server that answers 429, 500, slowly, truncated and
    malformed at set rates, and some prompts always wrongly: the build completes, every transient failure is
    retried, the records whose texts could not be translated are quarantined with the reason, the counts are in the
    report, and a rebuild asks nothing again (answers and deterministic failures are cached)."""
    import shutil

    from fakellm import FakeLLM

    from humansense.flows.build import build_humansense

    root = tmp_path / "fraud"
    shutil.copytree(sample_roots["telecom_fraud"], root)
    (root / "translations.en.jsonl").unlink()  # no translation memory: every text goes to the server
    calls = root / "label01-last.csv"  # 20 more calls, each worded apart, so the server sees many prompts
    header, *rows = calls.read_text(encoding="utf-8-sig").splitlines()
    more = [f"第{k}位客户，{row}" for k in range(1, 11) for row in rows]
    calls.write_text("\ufeff" + "\r\n".join([header, *rows, *more]) + "\r\n", encoding="utf-8")
    seen: dict[str, int] = {}
    with FakeLLM(behave=_seeded_behaviour(seen, invalid_share=0.08, transient_share=0.8),
                 answer_for=lambda req: {"translation": f"English for {len(req['messages'][-1]['content'])} chars"}
                 ) as fake:
        extra = (f'[annotators]\ncache_dir = "{tmp_path / "annotations"}"\n'
                 f'[annotators.llm]\nbase_url = "{fake.url}"\nmodel = "fake"\nbackoff_base_s = 0.05\n'
                 "max_retries = 4\ntimeout_s = 5\n"
                 + only_sources("telecom_fraud"))
        config = sample_config({"telecom_fraud": root}, tmp_path / "c.toml", extra)
        report = build_humansense(out=str(tmp_path / "b"), config_file=str(config))
        first_requests = len(fake.requests)
        # Another build folder on the same annotation cache: the annotate stage runs again, the server is not asked.
        again = build_humansense(out=str(tmp_path / "b2"), config_file=str(config))
        assert len(fake.requests) == first_requests
    served = fake.served[:first_requests]
    transient = sum(b in TRANSIENT for b in served)
    failed = sum(b in TRANSIENT and not b.startswith("slow") for b in served)  # a slow answer is still an answer
    invalid_prompts = {p for p in seen if random.Random(f"{SEED}:{p}").random() < 0.08}
    speech = report["annotations"]["telecom_fraud"]["speech"]
    account = speech["llm_account"]
    assert transient > 5 and {b.split(":")[0] for b in served} >= {"429", "500", "slow", "truncated", "malformed"}
    assert account["retries"] == failed  # every transient failure was asked again, nothing more
    assert account["failures"] == len(invalid_prompts) > 0  # the invalid answers, not retried at temperature 0
    quarantine = [json.loads(line) for line in (tmp_path / "b" / "release" / "quarantine.jsonl").read_text()
                  .splitlines()]
    untranslated = [q for q in quarantine if q["reason"] == "untranslated"]
    assert len(untranslated) == speech["untranslated"] > 0
    assert all("validation failed" in q["detail"] for q in untranslated)
    assert speech["spoken"] + speech["untranslated"] == speech["jobs"] and report["items"] > 0
    print(f"faulty LLM: {len(served)} responses, {failed} failed transiently and were retried "
          f"({', '.join(f'{k} {served.count(k)}' for k in TRANSIENT)}), {len(invalid_prompts)} prompts always "
          f"invalid -> {len(untranslated)} records quarantined, {speech['spoken']} spoken")
    again_account = again["annotations"]["telecom_fraud"]["speech"]["llm_account"]
    assert again_account["cached_failures"] == len(invalid_prompts) and again_account["requests"] == 0
    assert again["items_per_task"] == report["items_per_task"]


# -- a full or read-only disk ---------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 96 MB tmpfs (a real file system that fills up); None where this machine may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.environ.get("HUMANSENSE_NO_MOUNT"):  # try the fallback as a machine without mount rights runs it
        yield None
        return
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path, leave_bytes: int) -> None:
    """Fill the file system until only `leave_bytes` are free."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(disk / "filler", "wb") as f:
        f.truncate(0)
        remaining = free - leave_bytes
        block = b"\0" * (1 << 20)
        while remaining > 0:
            try:
                remaining -= f.write(block[: min(len(block), remaining)])
            except OSError:
                break


def _jester_config(sample_roots, folder: Path) -> Path:
    return sample_config({"jester": sample_roots["jester"]}, folder / "c.toml", only_sources("jester"))


def test_a_full_disk_fails_clearly_and_keeps_the_previous_release(small_disk, sample_roots, tmp_path: Path,
                                                                   monkeypatch, prefect_api_url):
    config = _jester_config(sample_roots, tmp_path)
    if small_disk is None:  # no mount here: a writer that fails part-way through publishing instead
        from humansense.flows.build import build_humansense
        from humansense.release import writer

        out = tmp_path / "build"
        build_humansense(out=str(out), config_file=str(config))
        before = release_content(out / "release")
        calls = {"n": 0}
        real = writer.write_json

        def failing(path, data):
            calls["n"] += 1
            if calls["n"] >= 3:
                raise OSError(28, "No space left on device", str(path))
            return real(path, data)

        monkeypatch.setattr(writer, "write_json", failing)
        with pytest.raises(OSError, match="No space left"):
            build_humansense(out=str(out), config_file=str(config))
        assert release_content(out / "release") == before and manifest_holds(out / "release")
        assert not list(out.glob(".release.tmp-*"))
        return
    out = small_disk / "build"
    assert run_build(out, config, prefect_api_url, home=tmp_path).returncode == 0
    stamp = (out / "release" / "build_report.json").read_bytes()
    before = release_content(out / "release")
    shutil.rmtree(out / "cache" / "clips")  # the rebuild must write clips again
    _fill(small_disk, leave_bytes=64 * 1024)
    failed = run_build(out, config, prefect_api_url, home=tmp_path)
    assert failed.returncode != 0
    assert "No space left on device" in failed.stdout, failed.stdout[-3000:]
    assert (out / "release" / "build_report.json").read_bytes() == stamp  # the previous release, whole
    assert release_content(out / "release") == before and manifest_holds(out / "release")
    assert not list(out.glob(".release.tmp-*"))
    (small_disk / "filler").unlink()  # space again: the next build completes
    assert run_build(out, config, prefect_api_url, home=tmp_path).returncode == 0 and manifest_holds(out / "release")


def test_a_read_only_output_is_refused_clearly(small_disk, sample_roots, prefect_api_url, tmp_path: Path):
    if small_disk is None:
        pytest.skip("this machine may not mount a file system (needs CAP_SYS_ADMIN): read-only output untested here")
    config = _jester_config(sample_roots, tmp_path)
    out = small_disk / "build"
    assert run_build(out, config, prefect_api_url, home=tmp_path).returncode == 0
    before = release_content(out / "release")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    failed = run_build(out, config, prefect_api_url, home=tmp_path)
    assert failed.returncode != 0 and "Read-only file system" in failed.stdout, failed.stdout[-3000:]
    assert release_content(out / "release") == before and manifest_holds(out / "release")


def test_a_push_cut_off_between_pieces_resumes_with_what_is_missing(sample_build):
    """The upload breaks off in its second piece: the first stays whole (never half a commit), the card is still the
    old one (its configs never name a file that is not there yet), and the push again uploads only the rest, then
    tags the build."""
    from huggingface_hub.errors import HfHubHTTPError

    from fakehub import FakeHub

    from humansense.release.hub import build_tag, plan_push, push_release

    release = sample_build[0] / "release"
    with FakeHub() as hub:
        hub.repos["org/hs"] = {".gitattributes": b"x", "README.md": b"the old card"}
        hub.fail_at_commit = 2
        plan = plan_push(release, "org/hs", endpoint=hub.url, max_piece_bytes=2**20)
        assert len(plan.pieces) > 3 and plan.pieces[-1][0] == "LICENSE.md"
        assert all(sum(plan.sizes[f] for f in piece) <= 2**20 or len(piece) == 1 for piece in plan.pieces)
        with pytest.raises(HfHubHTTPError):
            push_release(release, "org/hs", allow_unreviewed=True, allow_sample=True, endpoint=hub.url,
                         max_piece_bytes=2**20)
        assert len(hub.commits) == 1 and hub.repos["org/hs"]["README.md"] == b"the old card" and not hub.tags
        landed = set(hub.commits[0]["added"])
        push_release(release, "org/hs", allow_unreviewed=True, allow_sample=True, endpoint=hub.url,
                     max_piece_bytes=2**20)
        again = {path for c in hub.commits[1:] for path in c["added"]}
        assert not landed & again and landed | again == set(plan.add + plan.change)
        manifest = json.loads((release / "manifest.json").read_text())
        assert set(manifest) <= set(hub.repos["org/hs"])
        assert list(hub.tags["org/hs"]) == [build_tag(release)]
        pushed_task = hub.repos["org/hs"]["lmms_eval/humansense.yaml"].decode()
        assert "\ndataset_path: org/hs\n" in pushed_task  # the pushed task reads the Hub repository
        assert plan_push(release, "org/hs", endpoint=hub.url).pieces == [[]]  # nothing left to upload


def _reset(handler) -> None:
    handler.connection.shutdown(2)  # the peer resets: no status line at all
    handler.close_connection = True


def _cut_short(site: Path):
    def respond(handler) -> None:  # announces the whole file, sends a third, hangs up
        data = (site / "whole.mp4").read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 3])
        handler.close_connection = True
    return respond


@pytest.fixture
def unreliable_host(web_host):
    """The local video host, with a path that resets the connection and one whose file is cut short mid-body."""
    web_host.routes.update({"/reset": _reset, "/cut": _cut_short(web_host.site)})
    return web_host


def test_an_unreliable_video_host_ends_in_statuses_not_a_crash(unreliable_host, tmp_path: Path):
    from humansense.config import FetchConfig
    from humansense.io import read_jsonl
    from humansense.schema import Quarantined
    from humansense.sources.fetch import fetch_source

    host = unreliable_host
    host.video("whole", 4, size="160x120")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"url,start,end\n{host.url}/whole.mp4,,\n{host.url}/reset.mp4,,\n{host.url}/cut.mp4,,\n"
                        f"{host.url}/gone.mp4,,\n")
    result = fetch_source("skindeep", FetchConfig(manifest=manifest, sleep_s=0, retries=1, socket_timeout_s=5),
                          tmp_path / "downloads", tmp_path / "q.jsonl")
    statuses = {s["url"].rsplit("/", 1)[1]: s["status"]
                for s in json.loads((tmp_path / "downloads" / "status.json").read_text())}
    assert statuses["whole.mp4"] == "downloaded" and statuses["gone.mp4"] == "unavailable"
    assert statuses["reset.mp4"] in {"failed", "unavailable"} and statuses["cut.mp4"] in {"failed", "unavailable"}
    quarantined = {q.row: q for q in read_jsonl(tmp_path / "q.jsonl", Quarantined)}
    assert sorted(quarantined) == [3, 4, 5]  # the manifest rows of reset, cut and gone, each with yt-dlp's words
    assert all(q.reason.startswith("video ") and q.detail for q in quarantined.values())
    assert result["new"] == ["whole"]
    assert not list((tmp_path / "downloads").glob("cut.mp4"))  # a file cut short is never kept as a download
