"""Annotation that scales out: shards of (step, records) on any runner, engines held per worker, devices from the
config, resume after a kill. The engines are the real ones, on the sample's synthesised media."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import only_sources, sample_config
from humansense.sources import adapter_class
from humansense.config import AnnotatorsConfig, BuildConfig, ConfigError

BIN = Path(sys.executable).parent
ANNOTATED = ("realtalk", "skindeep", "telecom_fraud")


def evidence_of(folder: Path, cache: Path) -> dict[str, str]:
    """A source's evidence files by name, with the annotator cache's folder (where speech WAVs live) named alike."""
    return {p.name: p.read_text(encoding="utf-8").replace(str(cache), "<cache>") for p in sorted(folder.glob("*.json"))}


def annotate_here(sample_roots, name: str, evidence: Path, cache: Path, shard_size: int, run_shards=None) -> dict:
    from humansense.annotators.stage import annotate_source, run_here

    config = BuildConfig(annotators=AnnotatorsConfig(shard_size=shard_size))
    return annotate_source(adapter_class(name), getattr(config.sources, name), sample_roots[name], evidence, config, cache,
                           run_shards or run_here)


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """A Dask cluster started the way its users start one: `dask scheduler` and two `dask worker --nthreads 1`, each a
    command of its own on 127.0.0.1."""
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    common = ["--dashboard-address", ":0"]
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(scheduler_file), *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        for _ in range(300):
            if scheduler_file.exists():
                break
            time.sleep(0.1)
        procs += [subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(scheduler_file),
                                    "--nthreads", "1", "--no-nanny", *common],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                  for _ in range(2)]
        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield address
    finally:  # each process with what it started (a worker's temporary Prefect server): its whole group
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)


@pytest.mark.slow
def test_the_cli_on_a_dask_cluster_writes_the_evidence_one_process_writes(sample_roots, sample_build, dask_cluster,
                                                                          tmp_path: Path):
    """`humansense build --runner dask --dask-address` against a separately started scheduler and two workers: each
    annotated source's evidence is byte for byte what one process writes (the session's sample build: this process,
    the threads runner, the default shard size, its own annotator cache) and what this process assembles from the
    cluster's cache in shards of one and of three; the shards were spread over both workers, and each worker loaded
    each engine once."""
    out = tmp_path / "cluster"
    config = sample_config({n: sample_roots[n] for n in ANNOTATED}, tmp_path / "c.toml",
                           only_sources(*ANNOTATED) + "[annotators]\nshard_size = 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")  # a new database on a busy machine
    run = subprocess.run([str(BIN / "humansense"), "build", "--out", str(out), "--config", str(config), "--runner",
                          "dask", "--dask-address", dask_cluster], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "release" / "build_report.json").read_text())
    workers: dict[str, dict] = {}
    for name in ANNOTATED:
        shards = report["annotations"][name]["shards"]
        assert shards["ran"] == shards["total"] > 0 and shards["devices"] and set(shards["devices"].values()) == {"cpu"}
        for pid, worker in shards["workers"].items():
            assert pid != str(os.getpid()) and all(n == 1 for n in worker["loads"].values())
            workers.setdefault(pid, {}).update(worker["loads"])
    assert len(workers) == 2  # both workers annotated; an engine stays loaded across a worker's shards
    # The workers reported to the build's temporary Prefect server: none started a server of its own.
    import psutil

    for pid in workers:
        servers = [c for c in psutil.Process(int(pid)).children(recursive=True) if "uvicorn" in " ".join(c.cmdline())]
        assert not servers, f"worker {pid} started a Prefect server of its own"

    cluster_cache, one_process = out / "cache" / "annotations", sample_build[0] / "cache"
    for name in ANNOTATED:
        cluster = evidence_of(out / "cache" / "work" / "evidence" / name, cluster_cache)
        here = evidence_of(one_process / "work" / "evidence" / name, one_process / "annotations")
        assert here == cluster and len(cluster) > 3
        for size in (1, 3):  # other shard sizes, on the cluster's annotator cache: the same files again
            annotate_here(sample_roots, name, tmp_path / f"size-{size}" / name, cluster_cache, shard_size=size)
            assert evidence_of(tmp_path / f"size-{size}" / name, cluster_cache) == cluster


def test_a_build_shares_its_temporary_prefect_server_only_with_workers_that_can_reach_it(monkeypatch):
    """A server on 127.0.0.1 is handed to workers on this machine (a process pool, a LocalCluster, a cluster whose
    workers all listen here) and never to a cluster with a worker elsewhere, nor where an API is configured."""
    from humansense import prefect_api

    assert prefect_api.is_this_machine("127.0.0.1") and prefect_api.is_this_machine("localhost")
    assert not prefect_api.is_this_machine("192.0.2.7")  # TEST-NET-1: nobody's address
    assert not prefect_api.is_this_machine("no-such-host.invalid")
    assert not prefect_api.workers_share_this_machine("threads", None)
    assert prefect_api.workers_share_this_machine("processes", None) and prefect_api.workers_share_this_machine("dask", None)
    for hosts, shared in (({"127.0.0.1"}, True), ({"127.0.0.1", "192.0.2.7"}, False), (set(), False)):
        monkeypatch.setattr(prefect_api, "dask_worker_hosts", lambda address, hosts=hosts: hosts)
        assert prefect_api.workers_share_this_machine("dask", "tcp://127.0.0.1:8786") is shared, hosts
    monkeypatch.setattr(prefect_api, "dask_worker_hosts", lambda address: (_ for _ in ()).throw(OSError("refused")))
    assert not prefect_api.workers_share_this_machine("dask", "tcp://127.0.0.1:1")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    with prefect_api.shared_temporary_api("processes") as url:
        assert url is None  # the configured server is the one


@pytest.mark.slow
def test_a_killed_annotation_runs_only_the_shards_that_had_not_finished(sample_roots, tmp_path: Path):
    """The fraud calls in shards of two, the process killed (SIGKILL) while speaking the fifth call: the rerun runs
    the shards that had not finished and reads the two finished ones from their markers; the evidence is that of a
    run never killed."""
    from humansense.annotators.stage import run_here

    evidence, cache = tmp_path / "evidence", tmp_path / "cache"
    script = ("import sys; sys.path.insert(0, 'tests'); from pathlib import Path;"
              "from test_annotate_scaleout import annotate_here;"
              f"annotate_here({{'telecom_fraud': Path({str(sample_roots['telecom_fraud'])!r})}}, 'telecom_fraud', "
              f"Path({str(evidence)!r}), Path({str(cache)!r}), 2)")
    killed = subprocess.run([sys.executable, "-c", script], env=os.environ | {"HUMANSENSE_FAULT_KILL": "annotate:5"},
                            cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    markers = list((evidence / ".annotate").glob("*.json"))
    finished = {tuple(json.loads(p.read_text())["ids"]) for p in markers}
    assert len(finished) == 2 and all(len(ids) == 2 for ids in finished)  # two shards of two calls each

    ran = []
    counts = annotate_here(sample_roots, "telecom_fraud", evidence, cache, 2,
                           lambda shards: ran.extend(shards) or run_here(shards))
    assert counts["shards"]["resumed"] == 2 and counts["shards"]["ran"] == len(ran) == counts["shards"]["total"] - 2
    assert not {s.ids for s in ran} & finished
    annotate_here(sample_roots, "telecom_fraud", tmp_path / "clean", tmp_path / "clean-cache", 2)
    assert evidence_of(evidence, cache) == evidence_of(tmp_path / "clean", tmp_path / "clean-cache")

    again = annotate_here(sample_roots, "telecom_fraud", evidence, cache, 2, lambda shards: pytest.fail("ran"))
    assert again["cached"] is True  # nothing changed: the stage's own record, no shard planned


def test_shards_in_one_process_take_turns(monkeypatch, tmp_path: Path):
    """Threads of one process (the threads runner) never run two shards at once: side by side, PaddleOCR, fer's
    TensorFlow and CTranslate2 crashed the build process. Worker processes run theirs in parallel instead."""
    from humansense.annotators import shards as sharding
    from humansense.annotators.steps import CaptionsStep

    active, most = [], []

    def step(*args):
        active.append(1)
        most.append(len(active))
        time.sleep(0.2)
        active.pop()
        return {"videos": 0}

    monkeypatch.setattr(CaptionsStep, "run", lambda self, *args, **kwargs: step())
    monkeypatch.setattr(sharding, "step_units", lambda adapter, step, ids: [])
    config = BuildConfig()
    jobs = [sharding.Shard(adapter=adapter_class("skindeep"), source_config=config.sources.skindeep, root=tmp_path, seed=1,
                           step=CaptionsStep(window_s=1), ids=(f"v{k}",), evidence=tmp_path, cache_dir=tmp_path,
                           annotators=config.annotators, key=f"k{k}") for k in range(3)]
    threads = [threading.Thread(target=sharding.run_shard, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(most) == 3 and max(most) == 1
    assert all(json.loads(job.marker.read_text())["step"] == "captions" for job in jobs)


def test_devices_come_from_the_config_and_key_only_what_changes_the_output(monkeypatch, tmp_path: Path):
    """`auto` takes a GPU where the engine's runtime sees one, else the CPU (here: the CPU); an explicit GPU that is
    not there is an error naming the setting. A result is keyed by engine, model and the settings that change it
    (compute type, batched decoding), not by the device; a shard whose engine is put on a GPU asks for one."""
    from humansense.annotators import devices, registry
    from humansense.annotators.shards import plan_shards
    from humansense.annotators.steps import ConversationStep

    assert devices.resolve("auto", "asr").label == "cpu"  # this machine: CTranslate2 sees no GPU
    assert devices.resolve("cuda", "tts").label == "cpu"  # speech synthesis stays on the CPU
    monkeypatch.setitem(devices.GPU_COUNTERS, "ctranslate2", lambda: 2)
    assert devices.resolve("auto", "asr").label == "cuda:0" and devices.resolve("cuda:1", "asr").label == "cuda:1"
    with pytest.raises(devices.DeviceError, match=r"annotators.asr.device = 'cuda:2', but ctranslate2 sees 2"):
        devices.resolve("cuda:2", "asr")
    monkeypatch.setitem(devices.GPU_COUNTERS, "paddle", lambda: 0)
    assert devices.resolve("auto", "ocr").label == "cpu"
    with pytest.raises(devices.DeviceError):
        devices.resolve("cuda", "ocr")
    with pytest.raises(ConfigError, match="annotators.asr.device"):
        from humansense.config import load_config

        (tmp_path / "bad.toml").write_text('[annotators.asr]\ndevice = "gpu0"\n')
        load_config(tmp_path / "bad.toml")

    def shard(**asr):
        cfg = AnnotatorsConfig.model_validate({"asr": asr})
        config = BuildConfig()
        return plan_shards(adapter_class("realtalk"), config.sources.realtalk, tmp_path, 1, [ConversationStep(window_s=60)],
                           ["a", "b"], {"a": "1", "b": "2", "*": "x"}, tmp_path, tmp_path, cfg, "code")[0]

    assert shard(device="cpu").key == shard(device="cuda:1").key == shard().key
    assert shard(compute_type="float16").key != shard().key and shard(batched=True).key != shard().key
    assert shard(device="cuda").needs_gpu and not shard(device="auto").needs_gpu

    from humansense.annotators.engines import asr_engine

    assert "batched" not in asr_engine(AnnotatorsConfig()).params()  # unbatched keys are the ones cached before
    assert asr_engine(AnnotatorsConfig.model_validate({"asr": {"batched": True}})).params()["batched"] == 8

    monkeypatch.undo()
    cfg = AnnotatorsConfig()
    first = registry.engine("asr", cfg)
    same = registry.engine("asr", AnnotatorsConfig.model_validate({"asr": {"device": "cpu"}, "ocr": {"fps": 4}}))
    assert same is first and first.device == "cpu"
    held = registry.loads()
    assert held["loads"]["asr:faster-whisper@cpu"] == 1 and held["devices"]["asr"] == "cpu"
    assert held["pid"] == os.getpid()


def test_sources_declare_their_steps_and_the_stage_knows_none_by_name():
    """Each source made from annotations names its steps with their parameters; the stage module names no source."""
    import inspect

    from humansense.annotators import shards, stage, steps
    from humansense.sources import adapter_class

    config = BuildConfig().sources
    for name, expected in {"skindeep": ["captions", "transcripts"], "realtalk": ["conversation"],
                           "telecom_fraud": ["speech"], "efaqa": ["speech"]}.items():
        adapter = adapter_class(name)(getattr(config, name), Path("/nonexistent"), 1)
        declared = adapter.annotation_steps()
        assert [s.name for s in declared] == expected == list(adapter.evidence_kinds)
    captions, transcripts = adapter_class("skindeep")(config.skindeep, Path("/r"), 1).annotation_steps()
    assert captions.window_s == config.skindeep.caption_window_s and transcripts.min_words == config.skindeep.rr_min_words
    assert transcripts.reviews == Path("/r") / config.skindeep.rapport_reviews
    from humansense.config import SourcesConfig

    names = set(SourcesConfig.model_fields)
    for module in (stage, shards, steps):
        tree = ast.parse(inspect.getsource(module))
        named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in names}
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                    and n.module.removeprefix("humansense.sources.") in names}
        assert not named and not imported, (module.__name__, named, imported)


def test_a_worker_holds_the_emotion_and_the_ocr_engine_in_either_order(tmp_path: Path):
    """A worker gets shards in any order: PaddlePaddle loaded after TensorFlow killed the process (a segfault), so
    the facial-emotion engine's load brings PaddlePaddle in first, and a worker can hold both engines."""
    script = ("from humansense.annotators import registry; from humansense.config import AnnotatorsConfig;"
              "cfg = AnnotatorsConfig(); registry.engine('emotion', cfg); registry.engine('ocr', cfg);"
              "print(sorted(registry.loads()['loads']))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "emotion:fer@cpu" in run.stdout and "ocr:paddleocr@cpu" in run.stdout


def test_a_worker_started_with_one_openmp_thread_runs_its_engines_on_the_configured_threads():
    """Dask's nanny starts workers with OMP_NUM_THREADS=1, and numpy's OpenBLAS takes its thread count from it when
    imported; faster-whisper's transcript depends on that count (a ten-minute conversation: 21 segments on one
    thread, 128 on two). A worker's engines run with `[annotators.asr] cpu_threads` BLAS and OpenMP threads whatever
    the worker was started with, so every runner writes the same evidence."""
    script = ("import numpy; from humansense.annotators import registry; from humansense.config import "
              "AnnotatorsConfig; registry.engine('asr', AnnotatorsConfig.model_validate({'asr': {'cpu_threads': 3}}));"
              "print(registry.loads()['threads'])")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    pools = json.loads(run.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert pools and set(pools.values()) == {3}, pools


MMAPPED_BLOCKS_AFTER_A_MEGABYTE = """
import ctypes, json, sys
from humansense.annotators import registry

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
relaxed = registry.relax_malloc_trim() if sys.argv[1] == "relax" else {}
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)  # an engine's one-megabyte array
print(json.dumps({"mmapped": libc.mallinfo2().hblks - before, "relaxed": relaxed}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_a_worker_under_dasks_nanny_allocates_its_arrays_from_the_heap_again():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap threshold at
    128 KiB: each array an engine makes above it is mapped (and zeroed) afresh, and a conversation took about 2 min
    on a LocalCluster worker, more system time than user time, against 91 s once undone, as the engines now do."""
    nanny = os.environ | {"MALLOC_TRIM_THRESHOLD_": "65536"}

    def megabyte(mode: str, env: dict) -> dict:
        run = subprocess.run([sys.executable, "-c", MMAPPED_BLOCKS_AFTER_A_MEGABYTE, mode], capture_output=True,
                             text=True, timeout=120, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads(run.stdout.strip().splitlines()[-1])

    assert megabyte("as-started", nanny)["mmapped"] == 1  # the nanny's setting: the megabyte is a fresh mapping
    relaxed = megabyte("relax", nanny)
    assert relaxed == {"mmapped": 0, "relaxed": {"mmap_threshold": 32 << 20, "trim_threshold": 64 << 20}}
    plain = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    assert megabyte("relax", plain)["relaxed"] == {}  # a process started without it is left as glibc runs it
