"""The dataset card: README.md with the YAML header the Hugging Face Hub reads, then the human-readable card."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import yaml

from humansense.release.diff import diff_markdown
from humansense.schema import Item
from humansense.sources.fetch import fetch_line
from humansense.sources.facts import FACTS
from humansense.tasks import TASKS

LOADING = [
    "```python",
    "from datasets import load_dataset, Video",
    "",
    "fg = load_dataset(\"<this repo or folder>\", \"FG\", split=\"eval\")  # a task; \"all\" for every task",
    "audio = fg[0][\"audio\"]                     # a torchcodec AudioDecoder",
    "samples = audio.get_all_samples()            # .data (channels x samples), .sample_rate",
    "gr = load_dataset(\"<this repo or folder>\", \"GR\", split=\"eval\")",
    "video = gr[0][\"video\"]                     # a torchcodec VideoDecoder: video[0] is the first frame (C x H x W)",
    "video.metadata.num_frames, gr[0][\"media_info\"][\"fps\"]",
    "raw = gr.cast_column(\"video\", Video(decode=False))[0][\"video\"]  # {\"bytes\": ..., \"path\": file name}",
    "```",
    "",
    "Decoding needs `torchcodec` (`pip install datasets[audio] torchcodec`; with a CPU build of torch, torchcodec "
    "0.13 or earlier). An lmms-eval task is in `lmms_eval/`; from any folder:",
    "",
    "```bash",
    "python -m lmms_eval --model qwen2_5_omni --tasks humansense --include_path <this folder>/lmms_eval",
    "```",
    "",
    "It scores each item by the authors' rules (`score`, with its standard error), reports each task's accuracy "
    "(`acc_<TASK>`) and the paper's Avg. (13 video tasks) and Avg.* (all 15) as `avg` and `avg_star`, and our "
    "lenient reading as `lenient`.",
]


def licence_lines(modes: dict[str, str] | None = None) -> list[str]:
    """One line per source dataset (all eleven): title, homepage, licence, citation, and how this release carries
    its clips (files, or references to cut with `humansense media materialize`)."""
    modes = modes or {}
    lines = []
    for name, f in FACTS.items():
        mode = modes.get(name)
        carried = {"files": "clips included", "reference": "clips not included: references, cut from your own copy "
                   "with `humansense media materialize`"}.get(mode, "not used in this release")
        lines.append(f"- **{f.title}** ({f.homepage}): {f.licence}. Cite: {f.citation}. In this release: {carried}.")
    return lines


PROMPT_ENHANCEMENT = (
    "When analyzing the video or audio, focus on identifying: - Key Characteristics: Recognize notable features, "
    "actions, emotions, or behaviors of people. - Emotion: Identify the expressed or inferred emotional states of "
    "individuals - Context: Extract relevant dialogue or spoken words. For the following tasks, base your reasoning "
    "on the above elements to draw conclusions.")


def _features_yaml(schema) -> list:
    from datasets import Features  # the Hub's own serialisation of features, so the card and the files agree

    return Features.from_arrow_schema(schema)._to_yaml_list()


def card_header(shards: dict[tuple[str, str], list[str]], schema, pretty_name: str, n_items: int) -> dict:
    """YAML header: an `all` config and one per task, each listing the splits it has files for."""
    splits = ("eval", "train", "tiny")
    configs = [{"config_name": "all", "default": True,
                "data_files": [{"split": s, "path": f"data/*/{s}-*.parquet"} for s in splits
                               if any(k[1] == s for k in shards)]}]
    for abbr in TASKS:
        files = [{"split": s, "path": f"data/{abbr}/{s}-*.parquet"} for s in splits if (abbr, s) in shards]
        if files:
            configs.append({"config_name": abbr, "data_files": files})
    size = "n<1K" if n_items < 1000 else "1K<n<10K" if n_items < 10_000 else "10K<n<100K"
    return {
        "pretty_name": pretty_name, "license": "other", "license_name": "mixed-source-licences",
        "license_link": "LICENSE.md", "language": ["en"], "size_categories": [size],
        "task_categories": ["video-text-to-text", "visual-question-answering", "audio-classification"],
        "tags": ["humansense", "multimodal", "benchmark", "human-centered", "multiple-choice"],
        "configs": configs, "dataset_info": {"features": _features_yaml(schema)},
    }


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _classes_md(classes: dict[str, dict[str, int]]) -> str:
    if not classes:
        return "(no class-answer tasks in eval)"
    rows = [{"task": t, "answers": ", ".join(f"{c} {n}" for c, n in counts.items())} for t, counts in classes.items()]
    return markdown_table(pd.DataFrame(rows))


def _cm_mix(items: list[Item]) -> list[str]:
    """CM's two kinds of question, counted per split: which order, which description (the paper's)."""
    kinds = Counter((i.split, (i.annotations or {}).get("cm_kind", "order")) for i in items if i.task == "CM")
    if not kinds:
        return []
    per_split = "; ".join(f"{split}: {kinds.get((split, 'description'), 0)} description, "
                          f"{kinds.get((split, 'order'), 0)} order" for split in sorted({s for s, _ in kinds}))
    return ["CM asks two kinds of question: which description matches the video (wrong options: other videos' "
            "event sequences, the paper's CM) and which order its events happen in (wrong options: the same events "
            f"reordered). {per_split}.", ""]


def card_text(header: dict, items: list[Item], tiny: set[str], report: dict, audit: pd.DataFrame) -> str:
    counts = Counter((i.task, i.split) for i in items)
    tiny_counts = Counter(i.task for i in items if i.id in tiny)
    rows = [{"task": a, "name": t.name, "level": t.level.value, "kind": t.kind.value, "modality": t.modality.value,
             "eval": counts.get((a, "eval"), 0), "train": counts.get((a, "train"), 0), "tiny": tiny_counts.get(a, 0),
             "paper": t.target} for a, t in TASKS.items()]
    sources = sorted({i.provenance.source for i in items})
    audit_md = markdown_table(audit.drop(columns=["p_value"])) if not audit.empty else "(no items)"
    flagged = report.get("bias_audit", {}).get("flagged") or []
    qc = report.get("qc", {})
    provenance = {k: report.get(k) for k in ("humansense_version", "built_at", "seed", "config_fingerprint")}
    source_versions = {n: s.get("annotation_files") for n, s in report.get("sources", {}).items()}
    return "\n".join([
        "---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip(), "---", "",
        f"# {header['pretty_name']}", "",
        *([f"> **Not real data.** Built from the embedded synthetic sample for: "
           f"{', '.join(report['sample_sources'])}. Media and annotations of these sources are generated test "
           "fixtures, not the source datasets.", ""] if report.get("sample_sources") else []),
        "A rebuild of **HumanSense** (\"HumanSense: From Multimodal Perception to Empathetic Context-Aware Responses "
        "Through Reasoning MLLMs\", AAAI 2026; arXiv 2508.10576): multiple-choice questions over video and audio in "
        "four levels, made from public source datasets by humansense-build.", "",
        "## Splits and tasks", "",
        "`eval` is the benchmark; `train` is for reinforcement learning and shares no source video, conversation or "
        "person with eval (checked in every build); `tiny` is a seeded subset of eval for human baselines.", "",
        markdown_table(pd.DataFrame(rows)), "",
        "Answer classes in eval (selection evens them out as far as each source allows):", "",
        _classes_md(report.get("eval_answer_classes") or {}), "",
        *_cm_mix(items),
        "## Loading", "", *LOADING, "",
        "The authors' evaluation format is in `data/HumanSense_VQA.json` and `data/HumanSense_AQA.json` (eval "
        "split), beside the loose clips in `data/videos/` and `data/audios/` (outside every config's files, so "
        "`load_dataset` never downloads them). Evaluation prompt enhancement used by the paper (placed before the "
        "question):", "", f"> {PROMPT_ENHANCEMENT}", "",
        "## Fields", "",
        "`question`, `options` (letter, text), `answer` (one letter; ordered letters such as `AC` for \"select one "
        "or more\"; one digit for counting), `question_pattern` (the authors' strings), `audio` (FG, PC) or `video` "
        "(the other tasks): the clip, embedded; `media_info` (`path` relative to this folder, modality, "
        "duration, bytes, width, height, fps, frame count, sha256, and `status`: `embedded`, or `reference` for a "
        "clip a licence keeps out of the release), `provenance` (source dataset, record, group, original file, "
        "span), `annotations` (JSON: the labels the item was made from), `split`, `qc_status`.", "",
        "## Bias audit", "",
        "Accuracy of answerers that never see the media, per task, against chance (`audit/bias_audit.png`).", "",
        audit_md, "", f"Flagged: {'; '.join(flagged) if flagged else 'none'}.", "",
        "## Quality control", "",
        f"{report.get('qc_sampled', 0)} items are in the review sample; verdicts: "
        f"{qc.get('summary', 'not yet reviewed')}.", "",
        *(["Fetched in this build: " + "; ".join(fetch_line(name, f) for name, f in report["fetch"].items()) + ".",
           ""] if report.get("fetch") else []),
        "## Changes since the previous release", "",
        diff_markdown(report["release_diff"]) if report.get("release_diff") else "Not compared.", "",
        "## Licences, sources and takedown", "",
        "This dataset is derived from third-party datasets, each under its own terms; using it means accepting "
        "them. Clips are short excerpts for research on human-centred perception.", "",
        *licence_lines({s: (report.get("media_modes") or {}).get(s, "files") for s in sources}), "",
        "**Takedown:** if you appear in a clip or hold rights to it and want it removed, open an issue or a "
        "discussion on this repository naming the clip path; it is removed from the next release and from the "
        "history on request.", "",
        "## Build provenance", "", "```yaml",
        yaml.safe_dump({**provenance, "sources": source_versions}, sort_keys=False).strip(), "```", "",
    ])
