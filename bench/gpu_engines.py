"""The annotator engines on each device this machine has: load time and records per second per engine on the CPU
and on `cuda` (where the engine's runtime sees a GPU), and faster-whisper's batched decoding against sequential
decoding on the same audio, with how far their transcripts differ (word error rate of one against the other).

    .venv/bin/python bench/gpu_engines.py                       # media: the embedded sample, synthesised
    .venv/bin/python bench/gpu_engines.py --tree /data/hs-full  # media: a generated tree's RealTalk conversations

One command where a GPU is lent (`paddlepaddle-gpu` for OCR on the GPU, a CUDA build of TensorFlow for facial
emotion; CTranslate2's wheel has CUDA built in). Engines whose runtime sees no GPU get CPU rows only, and say so.
Writes `bench/out/gpu_engines.json`. Speech synthesis is measured on the CPU only (Piper is slower on a GPU).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def media(tree: Path | None, work: Path) -> list[Path]:
    """Conversation videos with speech and two faces: a tree's RealTalk videos, or the sample's."""
    if tree is not None:
        return sorted((tree / "realtalk" / "videos").glob("*.avi"))
    from humansense.sample import materialize

    return sorted((materialize(work, ["realtalk"])["realtalk"] / "videos").glob("*"))


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def bench_engine(annotator: str, device: str, videos: list[Path], span_s: float, cache_root: Path) -> dict:
    """Load time and records (spans) per second of one engine on one device, every span annotated anew."""
    from humansense.annotators import devices
    from humansense.annotators.asr import transcribe
    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.emotion import read_emotion
    from humansense.annotators.engines import BUILDERS
    from humansense.annotators.ocr import read_captions
    from humansense.config import AnnotatorsConfig

    placement = devices.resolve(device, annotator)
    engine = BUILDERS[annotator](AnnotatorsConfig(), device=placement.kind, index=placement.index)
    load_s, _ = timed(engine.load)
    cache = AnnotationCache(cache_root / f"{annotator}-{placement.label}")  # a fresh cache: nothing is a hit
    read = {"asr": lambda v: transcribe(v, engine, cache, start=0, end=span_s),
            "ocr": lambda v: read_captions(v, engine, cache, fps=1.0, start=0, end=span_s),
            "emotion": lambda v: read_emotion(v, engine, cache, fps=2.0, start=0, end=span_s)}[annotator]
    seconds, results = timed(lambda: [read(v) for v in videos])
    return {"engine": annotator, "device": placement.label, "load_s": round(load_s, 2), "records": len(videos),
            "records_per_s": round(len(videos) / seconds, 3), "ok": sum(r.status == "ok" for r in results)}


def batched_against_sequential(device: str, videos: list[Path], span_s: float, batch_size: int) -> dict:
    import jiwer

    from humansense.annotators import devices
    from humansense.annotators.asr import FasterWhisperEngine, load_audio

    placement = devices.resolve(device, "asr")
    texts, rates = {}, {}
    audio = [load_audio(v, 0, span_s) for v in videos]
    for batched in (False, True):
        engine = FasterWhisperEngine(device=placement.kind, device_index=placement.index, batched=batched,
                                     batch_size=batch_size)
        engine.load()
        seconds, out = timed(lambda: [engine.transcribe(a)[0] for a in audio])
        texts[batched] = [" ".join(s.text for s in segments) for segments in out]
        rates[batched] = round(len(audio) / seconds, 3)
    pairs = [(a, b) for a, b in zip(texts[False], texts[True]) if a.strip()]
    wer = jiwer.wer([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None
    return {"device": placement.label, "batch_size": batch_size, "sequential_records_per_s": rates[False],
            "batched_records_per_s": rates[True], "batched_wer_against_sequential": None if wer is None else
            round(wer, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, help="a generated tree (bench/gen_sources.py); default: the sample")
    ap.add_argument("--records", type=int, default=8)
    ap.add_argument("--span-s", type=float, default=60.0, help="seconds of each video annotated")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    from humansense.annotators import devices

    work = Path(tempfile.mkdtemp(prefix="gpu-engines-"))
    videos = media(args.tree, work / "media")[:args.records]
    seen = {a: devices.gpus_seen(r) for a, r in devices.RUNTIME_OF.items()}
    rows, notes = [], []
    for annotator in ("asr", "ocr", "emotion"):
        for device in ("cpu", "cuda"):
            if device == "cuda" and not seen[annotator]:
                notes.append(f"{annotator}: {devices.RUNTIME_OF[annotator]} sees no GPU here, CPU only")
                continue
            rows.append(bench_engine(annotator, device, videos, args.span_s, work / "cache"))
            print(json.dumps(rows[-1]), flush=True)
    batched = [batched_against_sequential(d, videos, args.span_s, args.batch_size)
               for d in ("cpu", "cuda") if d == "cpu" or seen["asr"]]
    summary = {"gpus_seen": seen, "videos": len(videos), "span_s": args.span_s, "engines": rows,
               "asr_batched": batched, "notes": notes}
    OUT.mkdir(exist_ok=True)
    (OUT / "gpu_engines.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
