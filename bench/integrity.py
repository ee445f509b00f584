"""Integrity benchmark on the generated full-size tree: the bias audit (every blind answerer, the learned one
included) on the questions a real-size build would release, and whether removing or adding one record changes any
other item's options, letters or QC content hash.

    .venv/bin/python bench/gen_sources.py --out /data/hs/s1 --scale 1
    .venv/bin/python bench/integrity.py /data/hs/s1 [--csv audit.csv]

It runs parse, select and augment as the build does, with placeholder media (the audit and the letters never look
at the media, so no clip is cut). Sources whose items come from annotators (RealTalk, The Skin Deep, the fraud
texts, EFAQA) make few drafts without the annotate stage; their tasks are audited on generated sets in the tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def placeholder_media(draft):
    from humansense.schema import Media
    from humansense.tasks import task

    return Media(path=f"data/media/{draft.id}.mp4", duration_s=10.0, modality=task(draft.task).modality)


def main() -> None:
    from humansense.augment.audit import audit
    from humansense.augment.build import augment_drafts, options_key, positions_of, wrong_texts
    from humansense.config import load_config
    from humansense.io import read_jsonl, write_jsonl
    from humansense.qc.store import content_hash
    from humansense.selection.select import Selection, select_stage
    from humansense.schema import ItemDraft
    from humansense.sources.pools import Pools
    from humansense.sources.stage import parse_source

    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--items", type=Path, help="also write the items (JSONL) here")
    args = parser.parse_args()
    config = load_config(args.tree / "sources.toml")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        files = [Path(parse_source(name, source, source.root, config.seed, work)["drafts"])
                 for name, source in config.sources.enabled().items()]
        chosen = select_stage(files, config.split, config.seed, work / "select")
        selection = Selection.from_json(json.loads(Path(chosen["selection"]).read_text()))
        pairs = [(d, placeholder_media(d), d.id) for f in files for d in read_jsonl(f, ItemDraft)
                 if d.id in selection.split]
        pools = Pools.beside(files)
        print(f"parse + select: {time.perf_counter() - start:.1f} s; {len(pairs)} selected drafts")
        start = time.perf_counter()
        items, refused = augment_drafts(pairs, config.seed, config.augment, pools=pools, selection=selection)
        print(f"augment: {time.perf_counter() - start:.1f} s; {len(items)} items, {len(refused)} refused")
        if args.items:
            write_jsonl(args.items, items)
        start = time.perf_counter()
        table = audit([i for i in items if i.split == "eval"], config.augment, seed=config.seed)
        print(f"audit of eval: {time.perf_counter() - start:.1f} s")
        if args.csv:
            table.to_csv(args.csv, index=False)
        worst = table.loc[table.groupby("task")["excess"].idxmax()]
        print(worst[["task", "answerer", "items", "accuracy", "chance", "excess", "flagged"]].to_string(index=False))
        print(f"flagged: {int(table['flagged'].sum())} of {len(table)} (task, answerer) pairs")

        # One record out, one new record in, with the ledger of the first build: nothing else may change.
        ledger = {i.id: positions_of(i) for i in items}
        options = {options_key(i.id, i.answer_texts()): wrong_texts(i) for i in items}
        gone = next(p for p in pairs if selection.split[p[0].id] == "eval")
        newcomer_draft = gone[0].model_copy(update={"id": gone[0].id + "-new"})
        selection.split[newcomer_draft.id] = "train"
        changed_pairs = [p for p in pairs if p is not gone] + [(newcomer_draft, gone[1], newcomer_draft.id)]
        again, _ = augment_drafts(changed_pairs, config.seed, config.augment, pools=pools, selection=selection,
                                  pinned=ledger, kept_options=options)
        before = {i.id: content_hash(i) for i in items}
        common = [i for i in again if i.id in before]
        moved = sum(content_hash(i) != before[i.id] for i in common)
        print(f"one record removed, one added: {moved} of {len(common)} other items changed")


if __name__ == "__main__":
    main()
