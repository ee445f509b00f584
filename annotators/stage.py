"""Annotation steps of the build: run an annotator over a source's media and leave its results as evidence files."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict, deque
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel

from humansense.annotators.base import AnnotationCache, NoAnnotation
from humansense.annotators.engines import asr_engine, emotion_engine, llm_client, ocr_engine, tts_engine
from humansense.annotators.ocr import read_captions
from humansense.annotators.translate import Translated, load_memory, memory_key, translate_all
from humansense.config import AnnotatorsConfig
from humansense.evidence import EvidenceFolder
from humansense.faults import checkpoint
from humansense.ids import digest, is_safe_component, unit_interval
from humansense.schema import SpeechJob
from humansense.terminal import STAGES, Ticker

if TYPE_CHECKING:
    from humansense.release.select import EvenNeed


def caption_evidence(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                     window_s: float) -> dict[str, int]:
    """OCR the first `window_s` seconds of each video into `out_dir/<id>.ocr.json` (a result or its NoAnnotation)."""
    engine, ocr = ocr_engine(cfg), cfg.ocr
    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    counts = {"videos": 0, "with_text": 0, "no_annotation": 0}
    ticker = Ticker(f"{out_dir.name} captions", len(videos))
    for video_id, media in videos:
        result = read_captions(media, engine, cache, fps=ocr.fps, start=None, end=window_s,
                               dup_threshold=ocr.dup_threshold)
        evidence.write(video_id, "ocr", result)
        ticker.tick()
        counts["videos"] += 1
        if result.status == "none":
            counts["no_annotation"] += 1
        elif result.frames:
            counts["with_text"] += 1
    counts.update(cache.stats())
    return counts


def transcript_and_rapport(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                           window_s: float, min_words: int, reviews_file: Path | None = None) -> dict:
    """ASR over the first `window_s` seconds (`<id>.asr.json`), then the rapport score of each transcript long enough
    to judge (`<id>.rapport.json`): a reviewed score from `reviews_file` when there is one, else the LLM's. Returns
    counts and the LLM's token and cost account."""
    from humansense.annotators.asr import transcribe
    from humansense.annotators.rapport import load_reviews, score_rapports

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    asr = asr_engine(cfg)
    transcripts = {}
    ticker = Ticker(f"{out_dir.name} transcripts", len(videos))
    for video_id, media in videos:
        result = transcribe(media, asr, cache, start=None, end=window_s)
        evidence.write(video_id, "asr", result)
        ticker.tick()
        if result.status == "ok" and len(result.text.split()) >= min_words:
            transcripts[video_id] = result.text
    reviews = load_reviews(reviews_file)
    for video_id in [v for v in transcripts if v in reviews]:
        evidence.write(video_id, "rapport", reviews[video_id])
        del transcripts[video_id]
    counts = {"videos": len(videos), "transcribed": len(transcripts), "reviewed": len(reviews), "llm_account": {}}
    if not transcripts:
        return counts
    with llm_client(cfg, cache) as client:
        for video_id, score in score_rapports(client, transcripts).items():
            evidence.write(video_id, "rapport", score)
        counts["llm_account"] = client.account
    return counts


def conversation_evidence(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                          window_s: float | None, read_faces) -> dict:
    """For two-person conversations (TR, ES): ASR segments with times (`<id>.asr.json`), then the faces over the
    segments the source asks for, summarised for the left and the right person (`<id>.faces.json`, an entry per
    segment read, with its index). `read_faces(video_id, asr, read)` is the source's: it calls `read(index)` for
    the segments it needs, in the order it needs them, and stops when it has enough (RealTalk's ES: a few replies of
    a conversation's ~170 segments)."""
    from humansense.annotators.asr import transcribe
    from humansense.annotators.emotion import read_emotion, summarise

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    asr = asr_engine(cfg)
    fer = emotion_engine(cfg)
    counts = {"videos": len(videos), "transcribed": 0, "segments": 0, "segments_read": 0, "segments_with_faces": 0}
    ticker = Ticker(f"{out_dir.name} conversations", len(videos))
    for video_id, media in videos:
        result = transcribe(media, asr, cache, start=None, end=window_s)
        evidence.write(video_id, "asr", result)
        if result.status != "ok":
            ticker.tick()
            continue
        counts["transcribed"] += 1
        counts["segments"] += len(result.segments)

        def read(index: int) -> dict:
            seg = result.segments[index]
            faces = read_emotion(media, fer, cache, region="any", fps=cfg.emotion.fps, start=seg.start, end=seg.end)
            entry = {"index": index, "start": seg.start, "end": seg.end,
                     "reason": None if faces.status == "ok" else faces.reason}
            for side in ("left", "right"):
                summary = summarise(faces.frames, side, faces.frame_width) if faces.status == "ok" else None
                entry[side] = summary.model_dump() if summary else None
            counts["segments_read"] += 1
            counts["segments_with_faces"] += faces.status == "ok"
            return entry

        entries = read_faces(video_id, evidence.read(video_id, "asr"), read)  # the transcript as the parse reads it
        evidence.write(video_id, "faces", {"engine": fer.label, "fps": cfg.emotion.fps,
                                           "segments": [entries[k] for k in sorted(entries)]})
        ticker.tick()
    counts.update(cache.stats())
    return counts


class ReplyJudgement(BaseModel):
    appropriate: Literal["yes", "no"]


JUDGE_SYSTEM = "You review replies in emotional-support conversations. Answer yes or no."


def judge_prompt(context: list[str], reply: str) -> str:
    """Would `reply` be an appropriate next response of a supporter after `context`? (PC's distractor check.)"""
    lines = "\n".join(context)
    return (f"Conversation between a person seeking help and a supporter:\n{lines}\n\nCandidate next reply from the "
            f"supporter: {reply}\n\nIs this reply an appropriate, caring and relevant next response?")


def judge_replies(client, jobs: list[SpeechJob], translated: dict) -> dict[str, dict[str, str | None]]:
    """Per job, each extra text's verdict ("yes"/"no", None if the LLM gave none), all asked at once."""
    prompts, where = {}, {}
    for job in jobs:
        texts = [t for _, t in job.turns] + job.extra_texts
        if not all(isinstance(translated[t], Translated) for t in texts):
            continue  # not spoken, so not judged
        context = [f"{'Person' if s == 0 else 'Supporter'}: {translated[t].text}" for s, t in job.turns]
        for k, text in enumerate(job.extra_texts):
            prompts[f"{job.id}/{k}"] = judge_prompt(context, translated[text].text)
            where[f"{job.id}/{k}"] = (job.id, text)
    verdicts: dict[str, dict[str, str | None]] = {}
    for key, result in client.structured_many(prompts, ReplyJudgement, system=JUDGE_SYSTEM).items():
        job_id, text = where[key]
        verdicts.setdefault(job_id, {})[text] = result.data["appropriate"] if result.status == "ok" else None
    return verdicts


def _pieces(text: str) -> list[str]:
    # Merged turns keep their messages on separate lines; each message is translated on its own (a translation
    # memory holds messages, and short units translate more faithfully), then the translations are joined.
    return [p.strip() for p in text.split("\n") if p.strip()]


def _joined(text: str, translated: dict) -> Translated | NoAnnotation:
    parts = [translated[p] for p in _pieces(text)]
    missing = next((p for p in parts if not isinstance(p, Translated)), None)
    if missing is not None:
        return missing
    return Translated(source=text, text=" ".join(p.text for p in parts), by="+".join(sorted({p.by for p in parts})))


def _judged(job: SpeechJob, cfg: AnnotatorsConfig) -> bool:
    return job.judge_replies == "always" or (job.judge_replies == "auto" and cfg.llm.base_url is not None)


def speech_evidence(jobs: list[SpeechJob], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                    memory_file: Path | None) -> dict:
    """Translate each job's texts (memory, then LLM), speak its turns with two voices into `<id>.speech.json`; a job
    with any untranslated turn gets a NoAnnotation naming the texts instead."""
    from humansense.annotators.llm import translate_many

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    pieces = [p for job in jobs for t in [text for _, text in job.turns] + job.extra_texts for p in _pieces(t)]
    wanted = {memory_key(p) for p in pieces}
    memory = load_memory(memory_file, wanted)
    counts = {"jobs": len(jobs), "spoken": 0, "untranslated": 0, "from_memory": 0, "llm_account": {}}
    with ExitStack() as stack:
        client = None
        if wanted - memory.keys() or any(_judged(j, cfg) for j in jobs):
            client = stack.enter_context(llm_client(cfg, cache))
        translated = translate_all(pieces, memory, (lambda ts: translate_many(client, ts)) if client else None,
                                   cfg.llm.model)
        engine = tts_engine(cfg)
        joined = {t: _joined(t, translated) for job in jobs for t in [text for _, text in job.turns] + job.extra_texts}
        judged = [job for job in jobs if _judged(job, cfg)]
        verdicts = judge_replies(client, judged, joined) if judged else {}
        ticker = Ticker(f"{out_dir.name} speech", len(jobs))
        for job in jobs:
            texts = [text for _, text in job.turns] + job.extra_texts
            result = _speak_job(job, {t: joined[t] for t in texts}, engine, cache,
                                verdicts.get(job.id, {}) if _judged(job, cfg) else None,
                                client.cfg.model if client is not None else None)
            evidence.write(job.id, "speech", result)
            ticker.tick()
            checkpoint("annotate")
            counts["spoken" if result["status"] == "ok" else "untranslated"] += 1
        counts["from_memory"] = sum(isinstance(t, Translated) and t.by == "memory" for t in translated.values())
        if client is not None:
            counts["llm_account"] = client.account
    counts.update(cache.stats())
    return counts


def _speak_job(job: SpeechJob, translated: dict[str, Translated | NoAnnotation], engine, cache: AnnotationCache,
               judgements: dict[str, str | None] | None, judge_model: str | None) -> dict:
    from humansense.annotators.tts import phone_call_turns, speak_dialogue

    texts = [text for _, text in job.turns] + job.extra_texts
    missing = [t for t in texts if not isinstance(translated[t], Translated)]
    if missing:
        first = translated[missing[0]]
        return {"status": "none", "reason": "untranslated", "detail": f"{len(missing)} of {len(texts)} texts not "
                f"translated; first: {first.reason}: {first.detail}", "untranslated": missing[:5], "raw": first.raw}
    english = [(speaker, translated[text].text) for speaker, text in job.turns]
    if job.arrangement == "call":
        english = phone_call_turns(" ".join(text for _, text in english), job.id)
    speech = speak_dialogue(english, engine, cache, phone_band=job.phone_band)
    if speech.status != "ok":
        return {"status": "none", "reason": speech.reason, "detail": speech.detail}
    return {"status": "ok", "wav": speech.path, "duration_s": speech.duration_s, "voice": speech.voice,
            "phone_band": speech.phone_band, "turns": [t.model_dump() for t in speech.turns],
            "translations": {t: translated[t].model_dump() for t in texts},
            "judgements": judgements or {}, "judged_by": judge_model if judgements is not None else None}


def gather_evidence(adapter, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                    units: list | None = None) -> dict:
    """Run the annotators a source asks for (`adapter.evidence_kinds`) over `units` (its videos or speech jobs, from
    `annotation_units`; all of them by default); each writes `<id>.<kind>.json` into `out_dir`, which the adapter
    then reads as evidence."""
    kinds, source_config, out = adapter.evidence_kinds, adapter.config, {}
    units = list(annotation_units(adapter).values()) if units is None else units
    if "captions" in kinds:
        out["captions"] = caption_evidence(units, out_dir, cfg, cache_dir, source_config.caption_window_s)
    if "transcripts" in kinds:
        reviews = adapter.root / source_config.rapport_reviews if source_config.rapport_reviews else None
        out["transcripts"] = transcript_and_rapport(units, out_dir, cfg, cache_dir, source_config.clip_s,
                                                    source_config.rr_min_words, reviews)
    if "conversation" in kinds:
        out["conversation"] = conversation_evidence(units, out_dir, cfg, cache_dir, source_config.window_s,
                                                    adapter.read_faces)
    if "speech" in kinds:
        ids = [unit.id for unit in units]
        jobs = {job.id: job for job in adapter.speech_jobs(only=set(ids))}
        out["speech"] = speech_evidence([jobs[i] for i in ids if i in jobs], out_dir, cfg, cache_dir,
                                        adapter.translation_memory())
    return out


class SpeechUnit(NamedTuple):
    """A text to be spoken, as the annotate stage orders it: its job (texts, wrong options) is made again only when
    a round takes it, so the listing does not hold every text of the source."""

    id: str
    answer_class: str | None


def annotation_units(adapter) -> dict:
    """What the annotate stage works through, by record id: (id, video) pairs, or the texts to speak (`SpeechUnit`).
    Listed once per stage: for a text source each job needs the record planned. A record whose id could not name
    an evidence file (a video file named `a b;c.mp4`) is left out here and quarantined by the parse ("unsafe id")."""
    if adapter.evidence_kinds == ("speech",):
        units = {j.id: SpeechUnit(j.id, j.answer_class) for j in adapter.speech_jobs()}
    else:
        units = {video[0]: video for video in adapter.videos()}
    return {u: unit for u, unit in units.items() if is_safe_component(u)}


def _added(total: dict, more: dict) -> dict:
    """Counts of two rounds added up (nested dicts key by key; other values: the latest)."""
    out = dict(total)
    for k, v in more.items():
        if isinstance(v, dict):
            out[k] = _added(total.get(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(total.get(k), (int, float)):
            out[k] = total[k] + v
        else:
            out[k] = v
    return out


def annotate_order(by_id: dict, seed: int, source: str) -> list[str]:
    """Record ids in a seeded order. Where a unit knows its answer's class before annotation (`answer_class`: FG's
    fraud type), the classes take turns in that order, so the records annotated first are as even across classes
    as the source allows: two thirds of the fraud texts are one class, and an eval drawn from a skewed sample lets
    "the most frequent answer" score far above chance."""
    ranked = sorted(by_id, key=lambda u: (unit_interval(seed, "annotate", source, u), u))
    classes = {u: getattr(by_id[u], "answer_class", None) for u in ranked}
    if all(c is None for c in classes.values()):
        return ranked
    queues: dict[str, deque] = defaultdict(deque)
    for u in ranked:
        queues[str(classes[u])].append(u)
    turns = sorted(queues, key=lambda c: (unit_interval(seed, "annotate class", source, c), c))
    order: list[str] = []
    while len(order) < len(ranked):
        order += [queues[c].popleft() for c in turns if queues[c]]
    return order


GIVE_UP_AFTER = 20  # records annotated without a single draft of a task before the task is given up


def class_supply(drafts: Counter, per_group: int) -> Counter:
    """Eval questions each answer class could give, from drafts counted per (class, group): at most `per_group` from
    one group, as selection takes them (a conversation whose listener always looks sad gives one sad question)."""
    supply: Counter = Counter()
    for (answer, _group), n in drafts.items():
        supply[answer] += min(n, per_group)
    return supply


def uneven_classes(supply: Counter, need: int) -> dict[str, int]:
    """The classes found that cannot give their even share of `need` eval drafts (`ceil(need / classes found)`),
    with how many each lacks. Classes never found are not asked for."""
    found = [c for c, n in supply.items() if n > 0]
    if not found:
        return {}
    share = math.ceil(need / len(found))
    return {c: share - supply[c] for c in sorted(found) if supply[c] < share}


def annotate_needed(adapter, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path, need: dict[str, int] | None,
                    seed: int, count_drafts, even: dict[str, EvenNeed] | None = None, even_factor: float = 1.0) -> dict:
    """Annotate a source's records in a seeded order, in rounds, until its drafts meet `need` (task -> drafts),
    never all records unless they are all needed; `need=None` annotates every record.

    The first round takes the fewest records that could meet `need` (`adapter.most_drafts_per_record`: a RealTalk
    conversation gives up to three TR items, so 375 TR drafts start from 125 conversations, not 375). After each
    round `count_drafts(ids)` parses the records just annotated (task -> Counter of (answer class, group)), added to
    the rounds before (a round's count costs its records, not a parse of the whole source); the next
    round is sized from the yield so far (drafts per record), with a fifth more for luck, and at most as many records
    as are done already (a yield read off a few records can be far off). A task that has given no draft at all from
    `GIVE_UP_AFTER` records (or all of them) is given up (`gave_up`: RR when the LLM scores every transcript
    neutral), so one barren task does not annotate the whole source.

    `even` (task -> eval drafts and the most one group may give) asks more of tasks whose answers are classes: once
    `need` is met, rounds go on until each class found could give its even share of those drafts (`class_supply`,
    `uneven_classes`; ES's listeners are mostly happy, and an eval drawn from a skewed pool lets "the most frequent
    answer" win), sized by each short class's own yield, up to `even_factor` times the records that met `need`; what
    is still uneven then is reported (`uneven`), and selection evens eval as far as the pool allows.
    The evidence folder's manifest (`annotated.json`) lists the records processed, so the parse skips the others
    (counted as not annotated, not quarantined)."""
    by_id = annotation_units(adapter)
    units = annotate_order(by_id, seed, adapter.name)
    evidence = EvidenceFolder(out_dir)
    if need is None:
        totals = gather_evidence(adapter, out_dir, cfg, cache_dir, list(by_id.values()))
        evidence.write_manifest(units, [])
        return totals | {"records": len(units), "annotated": len(units), "rounds": 1}
    even = even or {}
    done: list[str] = []
    totals: dict = {}
    batch = max([1] + [math.ceil(n / max(1, adapter.most_drafts_per_record(t))) for t, n in need.items()])
    rounds, counts, drafts, supply, gave_up, uneven = 0, {}, {}, {}, {}, {}
    even_limit: int | None = None  # records the evening may reach, once `need` is met
    while len(done) < len(units):
        chosen = units[len(done):len(done) + batch]
        STAGES.info("%s: annotate round %d, %d records (%d of %d done)", adapter.name, rounds + 1, len(chosen),
                    len(done), len(units))
        totals = _added(totals, gather_evidence(adapter, out_dir, cfg, cache_dir, [by_id[u] for u in chosen]))
        done += chosen
        rounds += 1
        evidence.write_manifest(done, units[len(done):])
        for task, found in count_drafts(chosen).items():  # a record's drafts depend on its own evidence alone
            drafts[task] = drafts.get(task, Counter()) + found
        counts = {t: sum(c.values()) for t, c in drafts.items()}
        STAGES.info("%s: drafts %s", adapter.name, ", ".join(f"{t} {counts.get(t, 0)} of {n}" for t, n in need.items()))
        short = {t: n - counts.get(t, 0) for t, n in need.items() if counts.get(t, 0) < n and t not in gave_up}
        if len(done) >= GIVE_UP_AFTER:
            gave_up |= {t: len(done) for t in short if counts.get(t, 0) == 0}
            short = {t: n for t, n in short.items() if t not in gave_up}
        per_record = lambda n: max(n / len(done), 1 / len(done))  # noqa: E731
        wanted = [short[t] / per_record(counts.get(t, 0)) for t in short]  # records each short task still wants
        supply = {t: class_supply(drafts.get(t, Counter()), n.per_group) for t, n in even.items()}
        uneven = {t: lacking for t, n in even.items() if t not in gave_up
                  and (lacking := uneven_classes(supply[t], n.drafts))}
        if not short:
            even_limit = even_limit or math.ceil(len(done) * even_factor)
            if not uneven or len(done) >= even_limit:
                break
            wanted += [k / per_record(supply[t][c]) for t, lacks in uneven.items() for c, k in lacks.items()]
        batch = max(1, min(len(done), math.ceil(max(wanted) * 1.2)))
        if even_limit is not None:
            batch = min(batch, even_limit - len(done))
    return totals | {"records": len(units), "annotated": len(done), "rounds": rounds, "drafts": counts,
                     "need": need, "gave_up": gave_up,
                     **({"class_supply": {t: dict(sorted(c.items())) for t, c in supply.items()}, "uneven": uneven}
                        if even else {})}


# Two sources annotating at once in one process (PaddleOCR beside fer's TensorFlow and CTranslate2, threads of the
# threads runner) crashed it: a segfault in the sample build (2026-11-26). Annotations in one process take turns;
# the processes and Dask runners' workers each have their own lock.
_ANNOTATING = threading.Lock()


def annotate_source(name: str, source_config, root: Path, evidence: Path, config, cache_dir: Path) -> dict:
    """The annotate stage for one source made from annotations: only as many records as selection will need."""
    with _ANNOTATING:
        return _annotate_source(name, source_config, root, evidence, config, cache_dir)


def _annotate_source(name: str, source_config, root: Path, evidence: Path, config, cache_dir: Path) -> dict:
    from humansense.release.select import annotation_needs, answer_class, even_class_needs
    from humansense.sources import adapter_class

    adapter = adapter_class(name)(source_config, root, config.seed)
    with_evidence = source_config.model_copy(update={"evidence_dir": str(evidence)})

    counter = adapter_class(name)(with_evidence, root, config.seed)  # kept across rounds: its pools are read once

    def count_drafts(ids: list[str]) -> dict[str, Counter]:
        drafts: dict[str, Counter] = defaultdict(Counter)
        counter.parse(sink=lambda draft: drafts[draft.task].update(
            [(answer_class(draft.answers), draft.provenance.group_key)]), only=ids)
        return dict(drafts)

    need = annotation_needs(adapter.tasks, config.split)
    start = time.perf_counter()
    counts = annotate_needed(adapter, evidence, config.annotators, cache_dir, need, config.seed, count_drafts,
                             even_class_needs(adapter.tasks, config.split), config.split.annotate_even_factor)
    return counts | {"seconds": round(time.perf_counter() - start, 1)}


def annotate_key(name: str, source_config, root: Path, config) -> str:
    """What decides a source's evidence: its media (fingerprints) or texts (checksums), the hand-kept files beside
    them, the annotators' settings and code, what selection needs and the seed. A rebuild with the same key reuses
    the evidence without decoding a frame (the annotators' own cache would hit too, but only after hashing media)."""
    import inspect
    import sys

    from humansense.media import fingerprint, sha256_file
    from humansense.release.select import annotation_needs, even_class_needs
    from humansense.sources import adapter_class

    adapter = adapter_class(name)(source_config, root, config.seed)
    if adapter.evidence_kinds == ("speech",):
        inputs = {f.name: sha256_file(f) for f in adapter.source_files() if f.is_file()}
    else:
        inputs = {video_id: fingerprint(path) for video_id, path in adapter.videos()}
    extras = [adapter.translation_memory(), root / getattr(source_config, "rapport_reviews", None) if getattr(
        source_config, "rapport_reviews", None) else None]
    inputs |= {f"extra:{p.name}": sha256_file(p) for p in extras if p is not None and p.is_file()}
    return digest(name, inputs, source_config.model_dump(mode="json", exclude={"root", "evidence_dir"}),
                  config.annotators.model_dump(mode="json", exclude={"cache_dir"}),
                  annotation_needs(adapter.tasks, config.split), even_class_needs(adapter.tasks, config.split),
                  config.split.annotate_even_factor, config.seed, adapter.code_version(),
                  inspect.getsource(sys.modules[__name__]), inspect.getsource(sys.modules[asr_engine.__module__]),
                  length=32)
