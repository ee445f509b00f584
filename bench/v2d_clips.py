"""The clip stage against video2dataset, on the same sources and spans: this pipeline (`cut_batch`, two workers), a
plain `ffmpeg` command per clip (`xargs -P 2`, the floor) and video2dataset 1.3's download + ClippingSubsampler
(precision "exact", 2 processes), the sources served over HTTP on 127.0.0.1 as video2dataset downloads them.

video2dataset is not a dependency: install it into its own environment and pass its Python.

    python3 -m venv /tmp/v2d && /tmp/v2d/bin/pip install video2dataset "pyarrow<16"   # ~6 GB (torch 2.1.2 ...)
    .venv/bin/python bench/v2d_clips.py /tmp/v2d/bin/python [--sources 6 --spans 8]

video2dataset wants sorted, non-overlapping spans per video, so spans here are sequential with gaps. It cuts each
video in one ffmpeg pass with the segment muxer (forced key frames at the cuts, libx264 defaults, source size), so
it encodes the whole video, gaps included; this pipeline and the floor encode each span alone (crf 23 veryfast,
at most 480 px high). Its timing includes its HTTP download of each source from 127.0.0.1.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clips import run_floor, run_pipeline, sources  # noqa: E402  (bench/clips.py, beside this file)

from humansense.config import MediaConfig  # noqa: E402
from humansense.schema import ClipSpec  # noqa: E402

V2D_SCRIPT = """
import sys, time
from video2dataset import video2dataset
start = time.perf_counter()
video2dataset(url_list=sys.argv[1], output_folder=sys.argv[2], input_format="parquet", url_col="url", clip_col="clips",
              encode_formats={"video": "mp4"}, output_format="files", config=sys.argv[3], tmp_dir=sys.argv[4])
print("V2D_SECONDS", time.perf_counter() - start)
"""

V2D_CONFIG = """subsampling:
    ClippingSubsampler:
        args:
            min_length: 0.0
            precision: exact
reading:
    yt_args:
        download_size: 360
        download_audio_rate: 44100
        yt_metadata_args: null
    timeout: 60
    sampler: null
storage:
    number_sample_per_shard: 1000
    oom_shard_count: 5
    captions_are_subtitles: False
distribution:
    processes_count: 2
    thread_count: 2
    subjob_size: 1000
    distributor: "multiprocessing"
"""


def sequential_spans(files: list[Path], per_file: int, seed: int = 1) -> list[ClipSpec]:
    """Sorted, non-overlapping spans of 3-5 s with 1-3 s gaps, as video2dataset requires."""
    rng = random.Random(seed)
    out = []
    for f in files:
        t = round(rng.uniform(0.5, 2.0), 2)
        for _ in range(per_file):
            end = round(t + rng.uniform(3, 5), 2)
            out.append(ClipSpec(kind="span", source_path=str(f), start_s=t, end_s=end))
            t = round(end + rng.uniform(1, 3), 2)
    return out


def run_v2d(python: str, specs: list[ClipSpec], root: Path) -> tuple[float, int]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root / "src")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    by_file: dict[str, list] = {}
    for s in specs:
        by_file.setdefault(Path(s.source_path).name, []).append([s.start_s, s.end_s])
    table = root / "v2d_input.parquet"  # a list column, as video2dataset reads clips
    pq.write_table(pa.table({"url": [f"{base}/{name}" for name in by_file], "clips": list(by_file.values())}), table)
    config = root / "v2d.yaml"
    config.write_text(V2D_CONFIG)
    (root / "v2d_tmp").mkdir()
    try:
        run = subprocess.run([python, "-c", V2D_SCRIPT, str(table), str(root / "v2d_out"), str(config),
                              str(root / "v2d_tmp")], capture_output=True, text=True, timeout=3600)
    finally:
        server.shutdown()
    if run.returncode != 0 or "V2D_SECONDS" not in run.stdout:
        raise SystemExit(run.stdout[-2000:] + run.stderr[-3000:])
    seconds = float(run.stdout.split("V2D_SECONDS")[1].split()[0])
    made = len(list((root / "v2d_out").rglob("*.mp4")))
    if made == 0:
        stats = [json.loads(p.read_text()) for p in (root / "v2d_out").glob("*_stats.json")]
        raise SystemExit(f"video2dataset made no clip: {json.dumps(stats)[:1000]}\n{run.stdout[-3000:]}")
    return seconds, made


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("python", help="the Python of an environment with video2dataset installed")
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--spans", type=int, default=8, help="spans per source")
    args = ap.parse_args()
    media = MediaConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = sequential_spans(sources(root / "src", args.sources), args.spans)
        floor = run_floor(specs, root / "floor", media, 2)
        ours = run_pipeline(specs, root / "ours", media, 2)
        v2d, made = run_v2d(args.python, specs, root)
        print(f"{len(specs)} spans over {args.sources} sources of 60 s; two workers each")
        print(f"plain ffmpeg loop {floor:.1f} s; this pipeline {ours:.1f} s ({ours / floor:.2f}x the floor); "
              f"video2dataset {v2d:.1f} s ({v2d / floor:.2f}x the floor, {made} clips)")


if __name__ == "__main__":
    main()
