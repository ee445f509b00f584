"""The speech step (FG's fraud calls, PC's counselling dialogues): each job's Chinese texts translated (the source's
translation memory first, then the LLM), its wrong replies judged where asked, its turns spoken by two voices into
`<id>.speech.json` evidence."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from humansense.annotators import registry
from humansense.annotators.base import AnnotationCache, NoAnnotation
from humansense.annotators.registry import llm_client
from humansense.annotators.translate import Translated, load_memory, memory_key, translate_all
from humansense.sections import AnnotatorsConfig
from humansense.evidence import EvidenceFolder
from humansense.faults import checkpoint
from humansense.schema import SpeechJob
from humansense.terminal import Ticker


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
                    memory_file: Path | None, held: bool = False) -> dict:
    """Translate each job's texts (memory, then LLM), speak its turns with two voices into `<id>.speech.json`; a job
    with any untranslated turn gets a NoAnnotation naming the texts instead. `held`: the local LLM server is this
    process's, kept for its next shards (an annotation worker), not started and stopped here."""
    from humansense.annotators.llm import translate_many

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    pieces = [p for job in jobs for t in [text for _, text in job.turns] + job.extra_texts for p in _pieces(t)]
    wanted = {memory_key(p) for p in pieces}
    memory = load_memory(memory_file, wanted)
    counts = {"jobs": len(jobs), "spoken": 0, "untranslated": 0, "from_memory": 0, "llm_account": {}}
    with ExitStack() as stack:
        client = None
        if wanted - memory.keys() or any(_judged(j, cfg) for j in jobs):
            client = stack.enter_context(llm_client(cfg, cache, held=held))
        translated = translate_all(pieces, memory, (lambda ts: translate_many(client, ts)) if client else None,
                                   cfg.llm.model)
        engine = registry.engine("tts", cfg)
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
