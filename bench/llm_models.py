"""The packaged local LLMs side by side, through the build's own server and client (temperature 0, a fresh cache):
per-call latency and output tokens per second, chrF of their English against the reference on the 30 Chinese fraud
and counselling texts of `tests/data/translations.zh-en.tsv`, and the rapport labels they give quarrels and warm
talks (RR needs both classes); with `--skindeep`, RR as the build makes it on generated Skin Deep videos (the
build's own transcript-and-rapport step: faster-whisper over the first 150 s, then the model, no hand reviews),
the labels counted and compared with the generator's answer key (`.base/tones.json`).

    .venv/bin/python bench/llm_models.py                                # all three packaged models
    .venv/bin/python bench/llm_models.py --models qwen2.5-0.5b
    .venv/bin/python bench/gen_sources.py --out /data/rr30 --scale 0.075 --only skindeep   # 30 Skin Deep videos
    .venv/bin/python bench/llm_models.py --skindeep /data/rr30/skindeep --sample
    .venv/bin/python bench/llm_models.py --models qwen2.5-1.5b --threads 1 2 --skindeep /data/rr10/skindeep

Writes `bench/out/llm_models.json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
SET = Path(__file__).parents[1] / "tests" / "data" / "translations.zh-en.tsv"
TALKS = {
    "quarrel-1": "You never listen to me. That's not true, you always twist what I say. I'm tired of this, every "
                 "time we talk it ends in a fight. Then stop blaming me for everything! I don't even know why I "
                 "bother anymore. We clearly want different things and you won't admit it.",
    "quarrel-2": "Why did you spend our savings without asking me? It was my money too. No, we agreed to decide "
                 "together and you broke that. You're overreacting again. I'm not, you lied to me and I can't trust "
                 "you. I disagree with everything you just said.",
    "warm-1": "Do you remember the first trip we took together? Of course, we got lost and laughed the whole day. "
              "You always make me laugh. I love how we can talk about anything. We see each other every weekend and "
              "it's still my favourite part of the week. I agree, I feel so lucky to have you.",
    "warm-2": "Thank you for always being there for me. You helped me so much when I moved. That's what sisters are "
              "for. We talk every day and I never get tired of it. We think the same way about almost everything, "
              "it's so easy with you.",
}


def translation_set() -> list[dict[str, str]]:
    with open(SET, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def bench_model(model: str, work: Path, threads: int) -> dict:
    import sacrebleu

    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.llm import LlmClient, LocalLlmServer, translate_many
    from humansense.annotators.rapport import rapport_label, score_rapports
    from humansense.config import LlmConfig

    rows = translation_set()
    started = time.perf_counter()
    with LocalLlmServer(work / "models", model, threads=threads) as server:
        start_s = time.perf_counter() - started
        client = LlmClient(LlmConfig(base_url=server.base_url, model=model, max_concurrency=1),
                           AnnotationCache(work / f"cache-{model}-{threads}"))
        start = time.perf_counter()
        translated = translate_many(client, [r["zh"] for r in rows])
        translate_s = time.perf_counter() - start
        tokens = client.account["completion_tokens"]
        hypotheses = [translated[r["zh"]].data["translation"] if translated[r["zh"]].status == "ok" else ""
                      for r in rows]
        start = time.perf_counter()
        scores = score_rapports(client, TALKS)
        rapport_s = time.perf_counter() - start
    labels = {k: (rapport_label(v.data) if v.status == "ok" else f"none: {v.reason}") for k, v in scores.items()}
    return {"model": model, "threads": threads, "server_start_s": round(start_s, 2), "calls": len(rows) + len(TALKS),
            "translate_s_per_call": round(translate_s / len(rows), 2),
            "translate_output_tokens_per_s": round(tokens / translate_s, 1),
            "rapport_s_per_call": round(rapport_s / len(TALKS), 2),
            "chrF": round(sacrebleu.corpus_chrf(hypotheses, [[r["en"] for r in rows]]).score, 1),
            "chrF_fraud": round(sacrebleu.corpus_chrf([h for h, r in zip(hypotheses, rows) if r["kind"] == "fraud"],
                                                      [[r["en"] for r in rows if r["kind"] == "fraud"]]).score, 1),
            "rapport_labels": labels, "scores": {k: v.data for k, v in scores.items() if v.status == "ok"},
            "examples": hypotheses[:3]}


def skindeep_rr(model: str, root: Path, work: Path, threads: int, reviews: Path | None = None) -> dict:
    """RR's labels from the build's transcript-and-rapport step on the Skin Deep videos under `root` (no reviews)."""
    from collections import Counter

    from humansense.annotators.registry import loads
    from humansense.annotators.rapport import rapport_label
    from humansense.annotators.steps import transcript_and_rapport
    from humansense.config import AnnotatorsConfig, SkindeepConfig
    from humansense.evidence import EvidenceFolder
    from humansense.sources.skindeep import SkindeepAdapter

    source = SkindeepConfig(root=root)
    videos = SkindeepAdapter(source, root).videos()
    out = work / f"rr-{root.parent.name}-{model}-{threads}"
    cfg = AnnotatorsConfig(llm={"model": model, "local_threads": threads}, asr={"cpu_threads": threads})
    start = time.perf_counter()
    counts = transcript_and_rapport(videos, out, cfg, work / "cache", source.clip_s, source.rr_min_words, reviews,
                                    held=True)
    seconds = time.perf_counter() - start
    key_file = root / ".base" / "tones.json"
    tones = json.loads(key_file.read_text()) if key_file.is_file() else {}
    expected = {"quarrel": "With challenges", "warm": "Harmonious"}
    labels, agree = {}, 0
    for video_id, _ in videos:
        score = EvidenceFolder(out).read(video_id, "rapport")
        label = rapport_label(score["data"]) if score and score.get("status") == "ok" else None
        labels[video_id] = label
        agree += video_id in tones and expected[tones[video_id]] == label
    return {"model": model, "threads": threads, "videos": len(videos), "transcribed": counts["transcribed"],
            "labels": dict(Counter(str(v) for v in labels.values())),
            "agree_with_tone": f"{agree}/{len(tones)}" if tones else None,
            "llm_requests": counts["llm_account"].get("requests"), "wall_s": round(seconds, 1), "loads": loads()["loads"]}


def main() -> None:
    from humansense.annotators.local_models import CHOICES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(reversed(CHOICES)), choices=CHOICES)
    ap.add_argument("--skindeep", type=Path, help="a Skin Deep folder (e.g. gen_sources' at --scale 0.075: 30 "
                                                    "videos) whose RR labels each model gives")
    ap.add_argument("--sample", action="store_true", help="also the embedded sample's Skin Deep, its reviews unused")
    ap.add_argument("--skip-texts", action="store_true", help="only the Skin Deep labels")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1],
                    help="engine threads (ASR's cpu_threads, the LLM's local_threads), each in turn")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="llm-models-"))
    results = []
    for model, threads in ((m, t) for m in args.models for t in args.threads):
        runs = [] if args.skip_texts else [lambda: bench_model(model, work, threads)]
        if args.skindeep:
            runs.append(lambda: skindeep_rr(model, args.skindeep, work, threads))
        if args.sample:
            from humansense.sample import materialize

            runs.append(lambda: skindeep_rr(model, materialize(work / "sample", ["skindeep"])["skindeep"], work,
                                            threads))
        for run in runs:
            results.append(run())
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_models.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
