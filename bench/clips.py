"""Clip stage against its floor, side by side on the same spans and encode settings: this pipeline's cutter
(`humansense.clips.stage.cut_batch`: one ffmpeg process per clip, each source probed once) and a plain `ffmpeg` command
per clip from a shell loop, each with 1 and 2 workers.

    .venv/bin/python bench/clips.py --sources 6 --spans 60      # 360 spans of 640x360 sources, as in the issue

video2dataset is measured by `bench/v2d_clips.py` (it needs sorted, non-overlapping spans and its own environment).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from humansense.clips.stage import clip_key, cut_batch
from humansense.config import MediaConfig
from humansense.io import write_json
from humansense.media import CUTTER_VERSION, fingerprint
from humansense.schema import ClipSpec


def sources(folder: Path, n: int, seconds: int = 60) -> list[Path]:
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        path = folder / f"src{k}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=640x360:rate=25,hue=h={k * 50}", "-f", "lavfi", "-i",
                        f"sine=frequency={300 + k * 40}:sample_rate=44100", "-t", str(seconds), "-c:v", "libx264",
                        "-preset", "veryfast", "-c:a", "aac", "-shortest", str(path)], check=True, timeout=300)
        out.append(path)
    return out


def spans(files: list[Path], per_file: int, seed: int = 1) -> list[ClipSpec]:
    rng = random.Random(seed)
    out = []
    for f in files:
        for _ in range(per_file):
            start = round(rng.uniform(0, 50), 2)
            end = round(start + rng.uniform(3, 8), 2)
            out.append(ClipSpec(kind="span", source_path=str(f), start_s=start, end_s=end))
    return out


def floor_command(spec: ClipSpec, out: Path, media: MediaConfig) -> str:
    """The same encode as the pipeline's, written by hand: what one clip costs at least."""
    return " ".join(shlex.quote(a) for a in [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{spec.start_s:.3f}", "-i", spec.source_path,
        "-t", f"{spec.end_s - spec.start_s:.3f}", "-vf", f"scale=-2:trunc(min(ih\\,{media.max_height})/2)*2",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(media.crf), "-preset", media.preset, "-fps_mode",
        "cfr", "-movflags", "+faststart", "-threads", "1", "-map_metadata", "-1", "-c:a", "aac", "-ac", "2",
        "-ar", "44100", "-f", "mp4", str(out)])


def run_floor(specs: list[ClipSpec], out: Path, media: MediaConfig, workers: int) -> float:
    out.mkdir(parents=True, exist_ok=True)
    script = out / "loop.sh"
    script.write_text("\n".join(floor_command(s, out / f"{k}.mp4", media) for k, s in enumerate(specs)) + "\n")
    start = time.perf_counter()
    if workers == 1:
        subprocess.run(["bash", str(script)], check=True)
    else:  # the shell's own parallel loop
        loop = f"xargs -P {workers} -d '\\n' -I CMD bash -c CMD < {shlex.quote(str(script))}"
        subprocess.run(loop, shell=True, check=True)
    return time.perf_counter() - start


def run_pipeline(specs: list[ClipSpec], out: Path, media: MediaConfig, workers: int) -> float:
    out.mkdir(parents=True, exist_ok=True)
    prints = {s.source_path: fingerprint(Path(s.source_path)) for s in specs}
    batches = []
    for i in range(0, len(specs), media.batch_size):
        members = [{"key": clip_key(s, prints[s.source_path], media), "spec": s.model_dump(mode="json")}
                   for s in specs[i:i + media.batch_size]]
        batch = out / "batches" / f"{i}.json"
        write_json(batch, {"clips": members, "media": media.model_dump(mode="json"), "cutter": CUTTER_VERSION})
        batches.append(batch)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:  # as the flow's task runner runs cut-clips tasks
        counts = list(pool.map(lambda b: cut_batch(b, out / "clips"), batches))
    elapsed = time.perf_counter() - start
    assert sum(c["cut"] for c in counts) == len({m["key"] for b in batches
                                                  for m in json.loads(b.read_text())["clips"]})
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--spans", type=int, default=60, help="spans per source")
    args = ap.parse_args()
    media = MediaConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = spans(sources(root / "src", args.sources), args.spans)
        print(f"{len(specs)} spans of 640x360 25 fps sources with audio; H.264 crf {media.crf} {media.preset}, AAC")
        for workers in (1, 2):
            floor = run_floor(specs, root / f"floor{workers}", media, workers)
            ours = run_pipeline(specs, root / f"ours{workers}", media, workers)
            print(f"workers {workers}: plain ffmpeg loop {floor:.1f} s, pipeline {ours:.1f} s, "
                  f"ratio {ours / floor:.2f}")
            shutil.rmtree(root / f"floor{workers}")
            shutil.rmtree(root / f"ours{workers}")


if __name__ == "__main__":
    main()
