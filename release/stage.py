"""The publish stage of a build: items, quarantine and the stages' accounts -> the release folder and its report."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from humansense.config import BuildConfig
from humansense.io import read_jsonl
from humansense.release.diff import diff_label, release_diff
from humansense.clips.stage import CLIP_SPECS
from humansense.release.reference import manifest_entries, media_mode
from humansense.release.report import build_report
from humansense.release.scrub import machine_prefixes, scrub, secrets_in_environment
from humansense.release.shortfall import ShortfallError, shortfall
from humansense.release.splits import check_leakage, tiny_ids
from humansense.release.writer import split_counts, split_groups, write_release
from humansense.schema import Item, Quarantined
from humansense.stages import StageReports
from humansense.sources.facts import facts
from humansense.tasks import TASKS


def without_restricted_texts(item: Item) -> Item:
    """A source whose texts may not be published verbatim (EFAQA) keeps only our English rendering: its original
    texts (annotations ending in `_zh`) are left out of the release."""
    if facts(item.provenance.source).texts:
        return item
    kept = {k: v for k, v in item.annotations.items() if not k.endswith("_zh")}
    return item.model_copy(update={"annotations": kept})


def eval_answer_classes(items: list[Item]) -> dict[str, dict[str, int]]:
    """Per task whose answers are classes: how often each answer class is correct in eval (the card shows it)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for i in items:
        if i.split == "eval" and TASKS[i.task].answer_classes:
            counts[i.task][" + ".join(i.answer_texts())] += 1
    return {t: dict(sorted(counts[t].items())) for t in TASKS if t in counts}


def publish(release_dir: Path, items_file: Path, quarantine_files: list[Path], clips_dir: Path, config: BuildConfig,
            stages: StageReports, clip_specs: Path | None = None) -> dict:
    """Check leakage (the last guard), write the release atomically and return its report.

    `stages` holds what earlier stages accounted for (`humansense.stages.StageReports`); `clip_specs` where each
    item's clip was cut from (the augment stage's, by default beside `items_file`)."""
    items = list(read_jsonl(items_file, Item))
    check_leakage(items)  # raises on any overlap between eval and train
    roots = {n: c.root for n, c in config.sources.enabled().items() if c.root is not None}
    prefixes = machine_prefixes(Path(release_dir).parent, roots)
    secrets = secrets_in_environment((config.annotators.llm.api_key_env, "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"))
    quarantined = [q.model_copy(update={"detail": scrub(q.detail, prefixes, secrets)})
                   for f in quarantine_files for q in read_jsonl(Path(f), Quarantined)]
    by_source: dict[str, Counter] = defaultdict(Counter)
    for q in quarantined:
        by_source[q.source][q.reason] += 1
    short = shortfall(items, list(config.sources.enabled()), stages.selection.get("targets", {}),
                      config.release.max_shortfall, by_source)
    if short and not config.release.allow_shortfall:
        raise ShortfallError(short)  # nothing is published
    report = build_report(config, stages.sources, items, quarantined, stages.media_tasks, stages.sample_sources,
                          stages.audit.flagged)
    report |= {"selection": stages.selection, "answer_letters": stages.letters,
               "eval_answer_classes": eval_answer_classes(items), "qc": stages.qc,
               "llm_account": stages.audit.llm_account, "annotations": stages.annotations,
               "annotation_tasks": stages.annotation_tasks, "stage_runs": stages.stage_runs, "shortfall": short,
               "fetch": stages.fetch_summary()}
    modes = {n: media_mode(n, config, stages.sample_sources) for n in config.sources.enabled()}
    specs_file = Path(clip_specs) if clip_specs else Path(items_file).with_name(CLIP_SPECS)
    specs = json.loads(specs_file.read_text()) if specs_file.exists() else {}
    references = manifest_entries(items, specs, Path(clips_dir), config.media, modes)
    items = [without_restricted_texts(i) for i in items]
    previous = config.release.diff_against or Path(release_dir)
    diff = release_diff(previous, items, quarantined, Path(items_file).parent / "previous_release",
                        diff_label(previous, Path(release_dir))).to_json()
    report |= {"media_modes": modes, "referenced_clips": len(references),
               "release_diff": {k: diff[k] for k in ("previous", "summary", "counts", "per_task", "reasons")}}
    audit_csv = next(Path(f) for f in stages.audit.files if f.endswith(".csv"))
    tiny = tiny_ids(items, config.split, config.seed)
    report["splits"] = split_counts(split_groups(items, tiny))
    write_release(release_dir, items, clips_dir, quarantined, report, tiny=tiny,
                  audit=pd.read_csv(audit_csv), extra_files={f"audit/{Path(f).name}": Path(f) for f in stages.audit.files},
                  cfg=config.release, references=references, diff=diff)
    return report
