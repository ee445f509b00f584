"""Scale benchmark: the build's stages up to the clip plan, on the generated full-size tree at --scale 1 and at
--scale 2 (the same targets), each in its own process: wall time per stage, peak memory, and what selection chose.
What selection chose is what the later stages (annotate, cut, augment, publish) spend on, so equal selections at
both scales mean those stages cost the same.

    .venv/bin/python bench/gen_sources.py --out /data/hs/s1 --scale 1
    .venv/bin/python bench/gen_sources.py --out /data/hs/s2 --scale 2
    .venv/bin/python bench/scale.py /data/hs/s1 /data/hs/s2

Stages timed: the parse cache key (hashes every annotation file, as the flow does), parse, select, and the media
plan (fingerprints of the selected drafts' files). Annotated sources are parsed without evidence here (the
annotate stage's cost is bounded by `annotate_needed`, measured by its counts in a build report).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_stages(tree: Path, work: Path) -> dict:
    from humansense.clips.stage import plan_media
    from humansense.config import load_config
    from humansense.selection.select import select_stage
    from humansense.sources.stage import parse_key, parse_source

    config = load_config(tree / "sources.toml")
    times: dict[str, float] = {"parse key": 0.0, "parse": 0.0}
    draft_files = []
    for name, source in config.sources.enabled().items():
        start = time.perf_counter()
        parse_key(name, source, source.root, config.seed)
        times["parse key"] += time.perf_counter() - start
        start = time.perf_counter()
        draft_files.append(Path(parse_source(name, source, source.root, config.seed, work)["drafts"]))
        times["parse"] += time.perf_counter() - start
    start = time.perf_counter()
    chosen = select_stage(draft_files, config.split, config.seed, work / "select" / "bench")  # a stage's
    # output folder is one of its keyed folders (`keyed.output_folder`): its siblings are pruned, not the work folder
    times["select"] = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_media(draft_files, Path(chosen["selection"]), work / "plan" / "bench", work / "batches", config.media)
    times["plan media"] = time.perf_counter() - start
    return {"times": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "selected": chosen["selected"], "clips": len(set(json.loads(Path(plan["clip_of"]).read_text()).values())),
            "drafts_mb": sum(f.stat().st_size for f in draft_files) / 1e6}


def measure(tree: Path) -> dict:
    with tempfile.TemporaryDirectory() as work:
        out = subprocess.run([sys.executable, __file__, "--stages", str(tree), work], check=True,
                             capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1] == "--stages":
        print(json.dumps(run_stages(Path(sys.argv[2]), Path(sys.argv[3]))))
        return
    one, two = (measure(Path(p)) for p in sys.argv[1:3])
    print(f"{'stage':<12} {'scale 1 (s)':>12} {'scale 2 (s)':>12} {'ratio':>7}")
    for stage in one["times"]:
        a, b = one["times"][stage], two["times"][stage]
        print(f"{stage:<12} {a:>12.2f} {b:>12.2f} {b / a if a else float('nan'):>7.2f}")
    total_a, total_b = sum(one["times"].values()), sum(two["times"].values())
    print(f"{'total':<12} {total_a:>12.2f} {total_b:>12.2f} {total_b / total_a:>7.2f}")
    print(f"peak memory: {one['peak_rss_mb']:.0f} MB -> {two['peak_rss_mb']:.0f} MB "
          f"({two['peak_rss_mb'] / one['peak_rss_mb']:.2f}x); drafts {one['drafts_mb']:.1f} MB -> "
          f"{two['drafts_mb']:.1f} MB")
    print(f"clips to cut: {one['clips']} -> {two['clips']}")
    same = one["selected"] == two["selected"]
    print(f"selected per task and split {'identical' if same else 'differs'}: {json.dumps(one['selected'])}"
          + ("" if same else f" vs {json.dumps(two['selected'])}"))


if __name__ == "__main__":
    main()
