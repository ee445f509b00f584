"""The release's lmms-eval task: run by the real lmms-eval (its own locked environment, .venv-lmms-eval) from a
folder outside the release, and scoring as `humansense score` does."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from humansense.release.lmms_eval import hub_task_yaml
from humansense.release.score import load_eval_items, score

ROOT = Path(__file__).resolve().parents[1]
LMMS_EVAL_PYTHON = ROOT / ".venv-lmms-eval" / "bin" / "python"
# Outputs a model might give, cycled over the eval items: exact letters, other cases, orders, partial and extra
# letters, counts, phrasing the lenient reading understands, an empty answer.
VARIED_OUTPUTS = ["A", "b", "AD", "DA", "ADB", "A.C", "a, c", "3", "12", "", "The answer is (C)", " B", "C.",
                  "two", "D"]


def task_module(release: Path):
    spec = importlib.util.spec_from_file_location("humansense_lmms_utils", release / "lmms_eval" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def eval_docs(release: Path, utils) -> list[dict]:
    """The docs lmms-eval gets: the eval shards as the YAML names them, after the task's process_docs."""
    from datasets import load_dataset

    task = yaml.load((release / "lmms_eval" / "humansense.yaml").read_text(), Loader=yaml.BaseLoader)
    dataset = load_dataset(str(release), data_files=task["dataset_kwargs"]["data_files"], split="eval")
    return list(utils.humansense_process_docs(dataset))


def aggregations(release: Path, utils) -> dict:
    """metric -> its aggregation, as the task YAML declares them."""
    task = yaml.load((release / "lmms_eval" / "humansense.yaml").read_text(), Loader=yaml.BaseLoader)
    mean = lambda values: sum(values) / len(values)  # noqa: E731 (lmms-eval's built-in "mean")
    return {m["metric"]: mean if m["aggregation"] == "mean" else getattr(utils, m["aggregation"].split(".")[-1])
            for m in task["metric_list"]}


def lmms_eval_scores(per_doc: list[dict], aggregate: dict) -> dict:
    return {metric: fn([d[metric] for d in per_doc]) for metric, fn in aggregate.items()}


def assert_scores_agree(lmms: dict, ours: dict) -> None:
    for task, row in ours["tasks"].items():
        expected = row["strict"]
        assert lmms[f"acc_{task}"] == pytest.approx(expected if expected is not None else float("nan"),
                                                    nan_ok=True), task
    assert lmms["avg"] == pytest.approx(ours["summary"]["strict"]["Avg."])
    assert lmms["avg_star"] == pytest.approx(ours["summary"]["strict"]["Avg.*"])
    assert lmms["lenient"] == pytest.approx(ours["summary"]["lenient"]["all"])


def test_the_task_folder_carries_the_scoring_rules_verbatim(sample_build):
    release = sample_build[0] / "release"
    assert (release / "lmms_eval" / "humansense_rules.py").read_bytes() == \
        (ROOT / "humansense" / "answer_rules.py").read_bytes()
    local = (release / "lmms_eval" / "humansense.yaml").read_text()
    assert "dataset_path: ..\n" in local
    pushed = hub_task_yaml(local, "org/HumanSense-rebuilt")
    assert [line for line in pushed.splitlines() if line.startswith("dataset_path:")] == [
        "dataset_path: org/HumanSense-rebuilt"]


def test_the_task_scores_varied_outputs_as_humansense_score(sample_build):
    release = sample_build[0] / "release"
    utils = task_module(release)
    docs = eval_docs(release, utils)
    outputs = {doc["id"]: VARIED_OUTPUTS[k % len(VARIED_OUTPUTS)] for k, doc in enumerate(docs)}
    per_doc = [utils.humansense_process_results(doc, [outputs[doc["id"]]]) for doc in docs]
    lmms = lmms_eval_scores(per_doc, aggregations(release, utils))
    ours = score(load_eval_items(release), outputs)
    assert_scores_agree(lmms, ours)
    # the item score is the authors' credit, an empty output counting 0
    assert [d["score"] for d in per_doc] == [utils.rules.authors_credit(doc["question_pattern"], doc["answer"],
                                                                        outputs[doc["id"]]) or 0.0 for doc in docs]
    # the cases where a prefix compare differed from the authors' rules
    multi = utils.rules.MULTI_PATTERN
    assert [utils.rules.authors_credit(multi, "AD", out) for out in ("DA", "ADB", "A")] == [1.0, 0.0, 0.5]
    assert utils.rules.authors_credit(utils.rules.SINGLE_PATTERN, "B", "b") == 1.0


HANDS = """
import importlib.util, json, sys
from pathlib import Path
sys.path.insert(0, TESTS)
from test_lmms_eval import eval_docs, task_module
release = Path(RELEASE)
utils = task_module(release)
utils.resolve_dataset(str(release))
docs = eval_docs(release, utils)
video = next(d for d in docs if d["media_info"]["modality"] == "video")
audio = next(d for d in docs if d["media_info"]["modality"] == "audio")
[path] = utils.humansense_doc_to_visual(video)
[clip] = utils.humansense_doc_to_visual(audio)
utils.DATASET_ROOT = None  # away from the release folder (a Hub id)
[cached] = utils.humansense_doc_to_visual(video)
print(json.dumps({"path": path, "video": video["media_info"], "audio": audio["media_info"], "cached": cached,
                  "keys": sorted(clip), "dtype": str(clip["array"].dtype), "ndim": clip["array"].ndim,
                  "seconds": len(clip["array"]) / clip["sampling_rate"]}))
"""


def test_the_task_hands_video_paths_and_audio_arrays(sample_build, tmp_path):
    """Video tasks hand lmms-eval a video path, FG and PC audio as its audio models take it; away from the release
    folder, a video comes from its embedded bytes, written once to a cache. (In a fresh interpreter: decoding loads
    torchcodec, which TensorFlow in this process would abort.)"""
    from conftest import run_isolated

    release = sample_build[0] / "release"
    code = HANDS.replace("TESTS", repr(str(Path(__file__).parent))).replace("RELEASE", repr(str(release)))
    seen = run_isolated(f"import os; os.environ['HF_HOME'] = {str(tmp_path)!r}\n" + code)
    assert seen["path"] == str(release / seen["video"]["path"]) and seen["path"].endswith(".mp4")
    assert seen["keys"] == ["array", "sampling_rate"] and seen["dtype"] == "float32" and seen["ndim"] == 1
    assert seen["seconds"] == pytest.approx(seen["audio"]["duration_s"], abs=0.05)
    cached = Path(seen["cached"])
    assert cached.is_relative_to(tmp_path) and cached.name.startswith(seen["video"]["sha256"])
    assert cached.read_bytes() == (release / seen["video"]["path"]).read_bytes()


@pytest.mark.slow
def test_the_real_lmms_eval_runs_every_eval_item_from_another_folder(sample_build, tmp_path: Path):
    """lmms-eval's own CLI, its dummy model decoding 4 frames of every video through lmms-eval's video loader,
    started from a folder outside the release. lmms-eval exits 0 even when a task fails, so the log is read."""
    assert LMMS_EVAL_PYTHON.exists(), "the lmms-eval environment is missing: run bash scripts/setup.sh"
    release = sample_build[0] / "release"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HUMANSENSE_DATASET", None)
    run = subprocess.run([str(LMMS_EVAL_PYTHON), "-m", "lmms_eval", "--model", "dummy",
                          "--model_args", "response=AC,decode_num_frames=4", "--tasks", "humansense",
                          "--include_path", str(release / "lmms_eval"), "--batch_size", "1", "--log_samples",
                          "--output_path", str(tmp_path / "out")],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert "Traceback" not in log and "| ERROR" not in log, log[-4000:]
    items = load_eval_items(release)
    videos = sum(i.modality.value == "video" for i in items)
    assert f"resolved: {videos} | local: {videos} | remote: 0 | missing: 0" in log, log[-4000:]
    assert f"Dummy decode - frames: {4 * videos}" in log
    [results_file] = (tmp_path / "out").rglob("*_results.json")
    results = json.loads(results_file.read_text())
    assert results["n-samples"]["humansense"]["effective"] == len(items)
    lmms = {k.removesuffix(",none"): v for k, v in results["results"]["humansense"].items() if k.endswith(",none")}
    assert isinstance(lmms["score_stderr"], float)  # a per-item score gets lmms-eval's standard error
    [samples_file] = (tmp_path / "out").rglob("*_samples_humansense.jsonl")
    outputs = {(s := json.loads(line))["avg"]["id"]: s["filtered_resps"] for line in samples_file.open()}
    assert set(outputs) == {i.id for i in items} and set(outputs.values()) == {"AC"}
    assert_scores_agree(lmms, score(items, outputs))


def test_lmms_eval_environment_is_held_to_the_cpu_build():
    """The lock keeps lmms-eval's torch on the CPU build (a plain install pulls CUDA torch) and filelock below 4."""
    check = subprocess.run([str(LMMS_EVAL_PYTHON), "-c", "import torch, filelock, torchcodec; "
                            "print(torch.__version__, torch.version.cuda, filelock.__version__)"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    torch_version, cuda, filelock = check.stdout.split()
    assert torch_version.endswith("+cpu") and cuda == "None" and int(filelock.split(".")[0]) < 4
    assert sys.executable != str(LMMS_EVAL_PYTHON)
