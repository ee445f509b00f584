"""The annotated sources of the full-size tree built from the command line with their real engines: RealTalk (ASR
and facial emotion over ten-minute conversations), The Skin Deep (caption OCR, ASR, the LLM's rapport score), the
fraud texts and EFAQA (translation by the LLM where the memory lacks a text, two Piper voices). Eval only, with a
target per annotated task (`--eval`; the paper's counts by default), each run a fresh `humansense build`.

    .venv/bin/python bench/annotated.py /work/bench-data/s1 --eval 30

Reports the build's stage times and peak memory, and per source: records it has, records annotated (in how many
rounds), the drafts they gave against the need, and seconds of annotation per record, so the time for other
targets can be read off (the annotate stage's work grows with the targets, not with the sources). On two cores the
paper's targets are hours of ASR and face reading (RealTalk needs ~125 ten-minute conversations for TR's 375 drafts).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fullsize import build  # noqa: E402

ANNOTATED = {"realtalk": ("TR", "ES"), "skindeep": ("FR", "RR", "RG"), "telecom_fraud": ("FG",), "efaqa": ("PC",)}


def config_text(tree: Path, sources: list[str], eval_per_task: int | None, allow_biased: bool = False,
                even_factor: float | None = None) -> str:
    from humansense.config import SourcesConfig
    from humansense.tasks import TASKS

    tasks = [t for s in sources for t in ANNOTATED[s]]
    targets = {t: eval_per_task if eval_per_task is not None else TASKS[t].target for t in tasks}
    lines = ["seed = 2026", "[split]", "train_max_per_task = 0",
             "eval_targets = {" + ", ".join(f"{t} = {n}" for t, n in targets.items()) + "}",
             *([f"[annotation_budget]\neven_factor = {even_factor}"] if even_factor is not None else []),
             "[release]", "allow_shortfall = true"]  # the packaged 270M LLM scores rapport neutral: RR has none
    if allow_biased:  # publish (and count) what the bias audit would refuse; the report still lists it
        lines += ["[augment]", "allow_biased = true"]
    for block in (tree / "sources.toml").read_text().split("[sources.")[1:]:
        if block.split("]", 1)[0] in sources:
            lines.append("[sources." + block.strip())
    lines += [f"[sources.{n}]\nenabled = false" for n in SourcesConfig.model_fields if n not in sources]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("--eval", type=int, default=None, help="eval target per annotated task (default: the paper's)")
    parser.add_argument("--sources", nargs="+", default=list(ANNOTATED), choices=list(ANNOTATED))
    parser.add_argument("--allow-biased", action="store_true",
                        help="publish even where the bias audit fails (the generated conversations' answers are skewed)")
    parser.add_argument("--even-factor", type=float, default=None,
                        help="annotation_budget.even_factor: how far annotation may go on to even answer classes, as a "
                             "multiple of the records that met the need (1: stop at the need)")
    parser.add_argument("--work", type=Path, default=None, help="keep the build here (a rerun resumes from it)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/annotated.json"))
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="humansense-annotated-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "annotated.toml"
    config.write_text(config_text(args.tree, args.sources, args.eval, args.allow_biased, args.even_factor))
    try:
        run = build(work / "build", config, work / "prefect")
        report = json.loads((work / "build" / "release" / "build_report.json").read_text())
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    annotate_s = run["stages_s"].get("annotate + parse", 0.0)
    per_source = {}
    for name, counts in report["annotations"].items():
        per_source[name] = {k: counts.get(k) for k in ("records", "annotated", "rounds", "need", "drafts",
                                                       "class_supply", "uneven", "gave_up", "seconds")}
        per_source[name]["s_per_record"] = round(counts.get("seconds", 0) / max(1, counts.get("annotated") or 0), 2)
    run["annotations"] = per_source
    run["eval_answer_classes"] = report["eval_answer_classes"]
    run["bias_audit_flagged"] = report["bias_audit"].get("flagged", [])
    run["annotate_s_per_record"] = round(annotate_s / max(1, sum(c["annotated"] or 0 for c in per_source.values())),
                                         2)
    print(json.dumps(run, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
