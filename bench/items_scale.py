"""Augment, audit and Parquet writing at 100,000 and 1,000,000 generated items: items per second and peak memory.

    .venv/bin/python bench/items_scale.py [--sizes 100000 1000000]

Each size runs in a fresh process (peak memory is the process's own): drafts for all 15 tasks in equal shares
(labels, label sets, counts and free text, with vocabularies of the real tasks' sizes) are generated to a JSONL
file first (not timed), then streamed as the build does: augmented into an items file (splits 20% eval / 80%
train by id), audited task by task (eval, every blind answerer, learning from train) and written as Parquet shards
per task and split, each stage timed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = {t: [f"{t} class {k} " + "word " * (k % 4) for k in range(n)] for t, n in
          {"GR": 27, "ER": 8, "AC": 13, "FG": 5, "FR": 2, "RR": 2, "RG": 6, "LD": 4, "ES": 6, "TR": 3}.items()}
ATTRIBUTES = [f"attribute {k}" for k in range(40)]
WORDS = "a man waves she opens the door dog runs across yard sits down they shake hands umbrella jumps".split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))).capitalize() + "."


def drafts(n: int, seed: int = 0):
    from humansense.augment.templates import load_templates
    from humansense.schema import ClipSpec, ItemDraft, Provenance

    rng = random.Random(seed)
    clip = ClipSpec(kind="span", source_path="/media/x.mp4", start_s=0.0, end_s=5.0)
    templates = load_templates()
    tasks = ["PA", "AR", "GR", "ER", "CM", "AC", "HC", "TR", "FR", "RR", "RG", "LD", "FG", "ES", "PC"]
    for i in range(n):
        task = tasks[i % len(tasks)]
        if task in LABELS:
            vocab = LABELS[task]
            answers = [rng.choice(vocab)]
            pool = [v for v in vocab if v not in answers]
        elif task in {"PA", "AR"}:
            answers = rng.sample(ATTRIBUTES, rng.randint(1, 3))
            pool = [a for a in ATTRIBUTES if a not in answers]
        elif task == "HC":
            answers = [str(rng.randint(0, 9))]
            pool = [str(c) for c in range(10) if str(c) != answers[0]]
        else:  # CM, PC: free text against a pool of other records' texts
            answers = [sentence(rng)]
            pool = [t for t in dict.fromkeys(sentence(rng) for _ in range(40)) if t != answers[0]]
        yield ItemDraft(id=f"{task.lower()}-{i:08d}", task=task, answers=answers, distractors=pool, clip=clip,
                        template_vars={v: f"value {i % 97}" for v in templates[task].vars},
                        provenance=Provenance(source="gen", record_id=str(i), group=f"g{i // 3}",
                                              original_file=f"v{i}.mp4"))


class SplitById:
    """20% of each task eval, 80% train, told from the draft id (`<task>-<n>`, tasks taking turns in n) rather
    than held as a map: the split map of a million drafts would be the bench's own memory, not the stages'."""

    def get(self, draft_id: str, default: str | None = None) -> str:
        return "eval" if int(draft_id.rsplit("-", 1)[1]) // 15 % 5 == 0 else "train"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(n: int, folder: Path) -> dict:
    """The build's own streaming path: drafts read from their file, augmented into an items file, the items file
    audited task by task, and written as Parquet one row group at a time; no stage holds the item list."""
    from humansense.augment.audit import audit_file
    from humansense.augment.build import augment_stream
    from humansense.config import AugmentConfig, ReleaseConfig
    from humansense.io import jsonl_writer, read_jsonl
    from humansense.release.shards import ShardWriter
    from humansense.schema import Item, ItemDraft, Media
    from humansense.tasks import TASKS

    draft_file = folder / "drafts.jsonl"
    with draft_file.open("w") as f:
        for d in drafts(n):
            f.write(d.model_dump_json() + "\n")
    base = peak_mb()
    times = {}

    def pairs():
        for d in read_jsonl(draft_file, ItemDraft):
            yield d, Media(path=f"data/videos/{d.id}.mp4", duration_s=5.0, modality=TASKS[d.task].modality), d.id

    items_file, count = folder / "items.jsonl", 0
    t = time.perf_counter()
    with jsonl_writer(items_file) as write:
        refused = augment_stream(pairs(), seed=7, cfg=AugmentConfig(), sink=write, splits=SplitById(),
                                 spill_dir=folder)
    times["augment"] = time.perf_counter() - t
    after_augment = peak_mb()
    t = time.perf_counter()
    table = audit_file(items_file, AugmentConfig(), seed=7)
    times["audit"] = time.perf_counter() - t
    after_audit = peak_mb()
    t = time.perf_counter()
    writers: dict[tuple[str, str], ShardWriter] = {}
    for item in read_jsonl(items_file, Item):
        count += 1
        key = (item.task, item.split)
        if key not in writers:
            writers[key] = ShardWriter(folder / "data" / item.task / f"{item.split}-00000-of-00001.parquet",
                                       ReleaseConfig(), folder)
        writers[key].add(item)
    for writer in writers.values():
        writer.close()
    times["parquet"] = time.perf_counter() - t
    return {"items": count, "refused": len(refused), "flagged": int(table["flagged"].sum()),
            "seconds": {k: round(v, 1) for k, v in times.items()},
            "items_per_s": {k: round(count / v) for k, v in times.items()},
            "peak_mb": round(peak_mb()), "peak_mb_before_augment": round(base),
            "peak_mb_after_augment": round(after_augment), "peak_mb_after_audit": round(after_audit)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(one(args.one, Path(folder))))
        return
    rows = {}
    for n in args.sizes:
        run = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(run.stderr[-3000:])
        rows[n] = json.loads(run.stdout.strip().splitlines()[-1])
        print(n, json.dumps(rows[n]), flush=True)
    if len(rows) > 1:
        small, large = min(rows), max(rows)
        print(f"peak memory {large:,} / {small:,} items: {rows[large]['peak_mb'] / rows[small]['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
