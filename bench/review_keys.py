"""Verdicts per minute in the review app for a scripted keyboard-only reviewer, in Debian's Chromium (Playwright).

The reviewer types a name, Enter, then gives each item of the QC sample a verdict by its keys alone (accept `a`,
reject `r` Enter, correct `c` + answer Enter, in turn) and waits for the next item to show; then again under the
next name, `--rounds` times. The rate is what the app and the page allow (a person is slower): the cost per
verdict of loading the next item, its clip and its evidence.

    .venv/bin/humansense build --out build                       # the sample build (README's first command)
    .venv/bin/python bench/review_keys.py --out build --rounds 5

Writes `bench/out/review_keys.json`; the verdicts go to a copy of the build's QC folder, never to the build's own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


def serve(build: Path, token: str) -> tuple[str, object]:
    import uvicorn

    from humansense.qc.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(build, token=token), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def review_round(page, url: str, name: str) -> list[float]:
    """One reviewer's pass over the sample by keys alone; the seconds each verdict took to the next item."""
    page.goto(url)
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'annotator'")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_function("typeof item !== 'undefined' && item !== null")
    seconds, turn = [], 0
    while (it := page.evaluate("item")) is not None:
        start = time.perf_counter()
        if turn % 3 == 1:
            page.keyboard.press("r")
            page.keyboard.press("Enter")
        elif turn % 3 == 2:
            new = (next(o["text"] for o in it["options"] if o["text"] != it["answer"]) if it["kind"] == "numeral"
                   else next(o["letter"] for o in it["options"] if o["letter"] not in it["answer"]).lower())
            page.keyboard.press("c")
            page.keyboard.press(new)
            page.keyboard.press("Enter")
        else:
            page.keyboard.press("a")
        page.wait_for_function(f"item === null || item.id !== '{it['id']}'")
        seconds.append(time.perf_counter() - start)
        turn += 1
    return seconds


def main() -> None:
    from playwright.sync_api import sync_playwright

    from humansense.qc.store import REVIEWS_FILE, ReviewStore

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("build"), help="a build folder with release/ and qc/")
    ap.add_argument("--rounds", type=int, default=5, help="reviewers, one after the other, each over the sample")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-keys-")) / "build"
    shutil.copytree(args.out / "release", work / "release")
    (work / "qc").mkdir()
    shutil.copy(args.out / "qc" / "sample.jsonl", work / "qc" / "sample.jsonl")
    token = "bench-token"
    url, server = serve(work, token)
    per_verdict: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        start = time.perf_counter()
        for k in range(args.rounds):
            per_verdict += review_round(page, f"{url}/?token={token}", f"reviewer {k}")
        wall = time.perf_counter() - start
        browser.close()
    server.should_exit = True
    stored = len(ReviewStore(work / "qc" / REVIEWS_FILE).rows())
    result = {"verdicts": len(per_verdict), "stored": stored, "wall_s": round(wall, 1),
              "verdicts_per_minute": round(60 * len(per_verdict) / wall, 1),
              "median_s_per_verdict": round(statistics.median(per_verdict), 3),
              "p90_s_per_verdict": round(sorted(per_verdict)[int(0.9 * (len(per_verdict) - 1))], 3)}
    print(json.dumps(result))
    OUT.mkdir(exist_ok=True)
    (OUT / "review_keys.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
