"""The QC round trip against a real Label Studio (the PyPI package, in .venv-labelstudio, started on 127.0.0.1 with
local-file serving): project from our labelling config, tasks imported, each clip played from Label Studio's own
media URL, annotations posted through the API as an annotator's browser does, exported, and stored as verdicts."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from humansense.cli import app
from humansense.io import read_jsonl
from humansense.qc.labelstudio_api import API_KEY_ENV, LabelStudio
from humansense.qc.store import REVIEWS_FILE, SAMPLE_FILE, ReviewStore
from humansense.schema import Item
from humansense.tasks import Kind

from test_deploy import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]
LABEL_STUDIO = Path(__file__).resolve().parents[1] / ".venv-labelstudio" / "bin" / "label-studio"


@pytest.fixture
def label_studio(qc_build: Path, tmp_path: Path):
    if not LABEL_STUDIO.exists():
        pytest.skip(f"Label Studio is not installed at {LABEL_STUDIO}: run scripts/setup.sh (CI does)")
    port, token = free_port(), secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DJANGO"))}
    env.update(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true", LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(qc_build),
               LABEL_STUDIO_BASE_DATA_DIR=str(tmp_path / "ls-data"), LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true")
    env.pop("HOST", None)
    log = tmp_path / "label-studio.log"
    proc = subprocess.Popen([str(LABEL_STUDIO), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(tmp_path / "ls-data"), "--username", "lead@example.org",
                             "--password", secrets.token_hex(8), "--user-token", token,
                             "--enable-legacy-api-token"],
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 240, f"Label Studio (log: {log})")
        yield url, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _annotation(task: dict, item: Item, verdict: str) -> list[dict]:
    """What Label Studio's editor posts when a reviewer picks answer choices, a verdict, a reason and a note."""
    result = [{"from_name": "verdict", "to_name": "question", "type": "choices", "value": {"choices": [verdict]}},
              {"from_name": "note", "to_name": "question", "type": "textarea",
               "value": {"text": [f"checked {task['data']['task_name']}"]}}]
    if verdict == "Reject":
        result.append({"from_name": "reason", "to_name": "question", "type": "choices",
                       "value": {"choices": ["wrong answer"]}})
    if verdict == "Correct":
        field = "count" if item.kind is Kind.NUMERAL else "answer"
        other = next(o.letter for o in item.options if o.letter not in item.answer)
        result.append({"from_name": field, "to_name": "question", "type": "choices",
                       "value": {"choices": [str((int(item.answer) + 1) % 10)] if field == "count" else [other]}})
    return result


def test_round_trip_through_a_real_label_studio(label_studio, qc_build: Path, monkeypatch):
    url, token = label_studio
    monkeypatch.setenv(API_KEY_ENV, token)
    items = {i.id: i for i in read_jsonl(qc_build / "qc" / SAMPLE_FILE, Item)}
    pushed = CliRunner().invoke(app, ["qc", "labelstudio-push", "--url", url, "--out", str(qc_build)])
    assert pushed.exit_code == 0, pushed.output
    project = json.loads(pushed.stdout)
    assert project["tasks"] == len(items)

    verdicts = ["Accept", "Reject", "Correct"]
    expected = {}
    with LabelStudio(url) as studio:
        tasks = studio.tasks(project["project"])
        assert sorted(t["data"]["item_id"] for t in tasks) == sorted(items)
        for n, task in enumerate(tasks):
            item = items[task["data"]["item_id"]]
            media_url = task["data"]["video"] or task["data"]["audio"]
            served = studio.media(media_url)  # the URL the editor's <video>/<audio> element loads
            assert served.headers["content-type"].startswith(("video/", "audio/"))
            assert hashlib.sha256(served.content).hexdigest() == hashlib.sha256(
                (qc_build / "release" / item.media.path).read_bytes()).hexdigest()
            verdict = verdicts[n % 3]
            posted = httpx.post(f"{url}/api/tasks/{task['id']}/annotations", headers={"Authorization": f"Token {token}"},
                                json={"result": _annotation(task, item, verdict), "was_cancelled": False}, timeout=30)
            assert posted.status_code == 201, posted.text[:500]
            expected[item.id] = verdict.lower()

    pulled = CliRunner().invoke(app, ["qc", "labelstudio-pull", "--url", url, "--project",
                                      str(project["project"]), "--out", str(qc_build)])
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout) == {"stored": len(items), "problems": []}
    stored = ReviewStore(qc_build / "qc" / REVIEWS_FILE).status(list(items.values()))
    assert {i: r.verdict for i, r in stored.items()} == expected
    rejected = [r for r in stored.values() if r.verdict == "reject"]
    assert rejected and all(r.reason == "wrong answer" for r in rejected)
    corrected = [r for r in stored.values() if r.verdict == "correct"]
    assert corrected and all(r.corrected_answer and r.corrected_answer != items[r.item_id].answer for r in corrected)
    assert token not in pulled.output + pushed.output
