"""Parse-stage scaling on generated sources in their published formats: ActivityNet Captions (CM) and the EFAQA
corpus (PC) at N and 2N records. Each parse runs in its own process; wall time and peak RSS are reported with the
2N/N ratios (linear growth reads ~2.0, the quadratic pools of before read ~4).

    .venv/bin/python bench/parse_scale.py --anet 2458 --efaqa 10000     # the real val_1 / EFAQA sizes halved
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["man", "woman", "girl", "boy", "dog", "ball", "kitchen", "lake", "bike", "guitar", "street", "cake",
         "camera", "table", "rope", "horse", "field", "water", "crowd", "stage"]
VERBS = ["walks", "jumps", "waves", "talks", "runs", "sits down", "picks up", "throws", "plays", "dances"]
HANZI = "我你他她们的是在有这个人说好想要知道时候觉得因为所以但是没有自己什么怎么工作学习家里朋友感情压力"


def activitynet(root: Path, n: int, rng: random.Random) -> None:
    (root / "videos").mkdir(parents=True, exist_ok=True)
    data = {}
    for k in range(n):
        events, t = [], rng.uniform(0, 5)
        for _ in range(rng.randint(2, 6)):
            d = rng.uniform(4, 30)
            events.append(([round(t, 2), round(t + d, 2)],
                           f"  A {rng.choice(WORDS)} {rng.choice(VERBS)} near the {rng.choice(WORDS)} "
                           f"{rng.choice(WORDS)} {k}."))
            t += d * rng.uniform(0.6, 1.1)
        data[f"v_{k:011d}"] = {"duration": round(t + 5, 2), "timestamps": [e[0] for e in events],
                               "sentences": [e[1] for e in events]}
    (root / "val_1.json").write_text(json.dumps(data))


def efaqa(root: Path, n: int, rng: random.Random) -> None:
    root.mkdir(parents=True, exist_ok=True)

    def text(lo: int, hi: int) -> str:
        return "".join(rng.choice(HANZI) for _ in range(rng.randint(lo, hi)))

    with gzip.open(root / "efaqa-corpus-zh.utf8.gz", "wt", encoding="utf-8") as f:
        for k in range(n):
            chats = []
            for turn in range(rng.randint(3, 12)):
                owner = turn % 2 == 1
                chat = {"time": "10:00:00", "sender": "owner" if owner else "audience", "type": "textMessage",
                        "value": text(4, 80)}
                if not owner:
                    chat["label"] = {"question": False, "knowledge": False, "negative": rng.random() < 0.05}
                chats.append(chat)
            f.write(json.dumps({"md5": f"{k:032x}", "date": "2020-03-02 11:01:08", "owner": "匿名",
                                "title": "女 " + text(6, 20), "label": {"s1": f"1.{rng.randint(1, 19)}",
                                                                       "s2": "2.7", "s3": "3.6"},
                                "chats": chats}, ensure_ascii=False) + "\n")


def parse_once(source: str, root: str, work: str) -> None:
    from humansense.config import BuildConfig
    from humansense.sources.stage import parse_source

    cfg = getattr(BuildConfig().sources, source)
    start = time.perf_counter()
    summary = parse_source(source, cfg, Path(root), 2026, Path(work))
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "records": summary["records_read"], "candidates": summary["candidates_per_task"],
                      "drafts_bytes": Path(summary["drafts"]).stat().st_size}))


def measure(source: str, make, n: int, tmp: Path) -> dict:
    root = tmp / f"{source}-{n}"
    make(root, n, random.Random(n))
    out = subprocess.run([sys.executable, __file__, "--parse", source, str(root), str(tmp / f"work-{source}-{n}")],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anet", type=int, default=1500)
    ap.add_argument("--efaqa", type=int, default=2000)
    ap.add_argument("--parse", nargs=3)
    args = ap.parse_args()
    if args.parse:
        return parse_once(*args.parse)
    with tempfile.TemporaryDirectory() as tmp:
        for source, make, n in (("activitynet", activitynet, args.anet), ("efaqa", efaqa, args.efaqa)):
            one, two = measure(source, make, n, Path(tmp)), measure(source, make, 2 * n, Path(tmp))
            print(f"{source}: N={n}: {one['seconds']:.2f} s, {one['peak_rss_mb']:.0f} MB, drafts "
                  f"{one['drafts_bytes'] / 1e6:.1f} MB; 2N: {two['seconds']:.2f} s, {two['peak_rss_mb']:.0f} MB, "
                  f"drafts {two['drafts_bytes'] / 1e6:.1f} MB; ratio time {two['seconds'] / one['seconds']:.2f}, "
                  f"memory {two['peak_rss_mb'] / one['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
