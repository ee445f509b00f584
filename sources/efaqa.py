"""Emotional First Aid dialogues (efaqa-corpus-zh, Wang, Wu, Lang 2020) -> PC: the next reply in a counselling chat.

Format: the published format: gzip JSON-lines, one conversation per line: `title` (gender prefix "女 "/"男 " and the
question), optional `description`, `label` {s1, s2, s3}, ordered `chats[]` of {sender owner|audience, value, label
{question, knowledge, negative}}; `md5` (the id) and `date` may be absent.

A conversation becomes: the asker's post (title without the gender prefix, then the description) and the chat
turns, consecutive messages of one sender merged, replies the corpus labels `negative` (harmful) left out of the
context; the reply asked for is the last supporter turn that has at least `min_turns` turns before it. Wrong
options: the conversation's own harmful replies first, then supporter replies from conversations about another
concern (s1), the closest in length, each checked by the LLM in the annotate step and dropped if it judges the reply
appropriate here too. The context is spoken by two voices (asker, supporter); options are shown as text.
"""

from __future__ import annotations

import gzip
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from humansense.ids import check_component, digest, seeded_rng
from humansense.schema import ItemDraft, Provenance, SpeechJob
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError
from humansense.sources.spoken import SpokenTextAdapter


class EfaqaConfig(SourceConfig):
    annotation_file: str = "efaqa-corpus-zh.utf8.gz"  # the corpus, one JSON conversation a line
    min_turns: int = Field(default=4, ge=2)  # context turns before the reply (the asker's post counts as one)
    max_turns: int = Field(default=10, ge=2)  # longer contexts keep the post and the latest turns
    max_chars_per_turn: int = 200  # longer turns are cut at a sentence end
    distractor_candidates: int = Field(default=6, ge=3)  # translated and checked, the best 3 kept
    # Wrong options come from a seeded sample of at most this many supporter replies of other conversations (the
    # corpus has ~76,000), so parsing holds a bounded pool, whatever the corpus's size.
    reply_pool_max: int = Field(default=50_000, ge=100)
    # Ask the LLM whether a wrong option is also an appropriate reply, and drop it if so. "auto": only with a configured
    # endpoint ([annotators.llm] base_url): the packaged models are not asked (Gemma 270M called every reply
    # appropriate; the Qwen2.5 models' judgement of replies is not measured yet).
    judge_distractors: Literal["auto", "always", "never"] = "auto"
    translation_memory: str | None = "translations.en.jsonl"  # in the root, if present (the sample ships one)


ASKER, SUPPORTER = 0, 1
CONCERNS = {  # s1 (the published format)
    "1.1": "Academic concerns", "1.2": "Career and workplace", "1.3": "Family issues and conflict",
    "1.4": "Substance abuse and addiction", "1.5": "Grief", "1.6": "Insomnia", "1.7": "Stress",
    "1.8": "Interpersonal relationship", "1.9": "Relationship issues", "1.10": "Divorce", "1.11": "Break up",
    "1.12": "Self-awareness", "1.13": "Low self-esteem", "1.14": "Adolescent problem", "1.15": "OCD",
    "1.16": "Others", "1.17": "LGBT", "1.18": "Sex", "1.19": "Parent-child relationship",
}
SENTENCE_END = re.compile(r"(?<=[。！？!?])")


class ChatLabel(BaseModel):
    question: bool = False
    knowledge: bool = False
    negative: bool = False


class Chat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sender: str
    value: str
    time: str | None = None
    label: ChatLabel | None = None


class Conversation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    md5: str | None = None
    date: str | None = None
    title: str
    description: str | None = None
    label: dict[str, str] = {}
    chats: list[Chat]


@dataclass(frozen=True)
class Plan:
    """What one conversation becomes: the spoken context, the reply asked for, the wrong-option candidates."""

    context: list[tuple[int, str]]
    answer: str
    harmful: list[str]  # the conversation's own replies labelled negative
    candidates: list[str]  # replies from conversations about other concerns, closest in length first


def clip_turn(text: str, limit: int) -> str:
    """A turn cut to whole sentences within `limit` characters (the first sentence is kept whole)."""
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in (s for s in SENTENCE_END.split(text.replace("\n", "")) if s):
        if kept and len(kept) + len(sentence) > limit:
            break
        kept += sentence
    return kept


def post_text(conv: Conversation) -> str:
    title = re.sub(r"^[男女]\s+", "", conv.title.strip())
    return title + (f"，{conv.description.strip()}" if conv.description and conv.description.strip() else "")


def turns_of(conv: Conversation) -> tuple[list[tuple[int, str]], list[str]]:
    """(merged turns starting with the post, harmful replies left out of them)."""
    turns: list[tuple[int, str]] = [(ASKER, post_text(conv))]
    harmful = []
    for chat in conv.chats:
        if chat.sender not in ("owner", "audience"):
            raise RecordError("malformed record", f"chat sender {chat.sender!r} is neither 'owner' nor 'audience'")
        text = chat.value.strip()
        if not text:
            continue
        if chat.sender == "audience" and chat.label is not None and chat.label.negative:
            harmful.append(text)
            continue
        speaker = ASKER if chat.sender == "owner" else SUPPORTER
        if turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]}\n{text}")  # one line per message, translated one by one
        else:
            turns.append((speaker, text))
    return turns, harmful


class EfaqaAdapter(SpokenTextAdapter):
    name = "efaqa"
    tasks = ("PC",)
    published_files = ("efaqa-corpus-zh*.gz",)
    config: EfaqaConfig

    def source_files(self) -> list[Path]:
        return [self.root / self.config.annotation_file]

    def _lines(self) -> Iterator[Record]:
        """The corpus's lines as they are decompressed (memory does not grow with the corpus)."""
        path = self.source_files()[0]
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    yield Record(file=path, row=n, record_id=None, data=line.rstrip("\r\n"))

    def _records(self) -> Iterator[Record]:
        """The corpus's conversations, each read once: a readable one with its id (so a parse can pass over the
        records it is not asked for without planning them), an unreadable one as its line, for `conversation` to
        refuse with the reason."""
        for record in self._lines():
            try:
                record_id, conv = self.conversation(record)
            except Exception:  # noqa: BLE001 - refused with its reason when it is parsed
                yield record
                continue
            yield Record(file=record.file, row=record.row, record_id=record_id, data=conv)

    def records(self) -> Iterable[Record]:
        try:  # read through once first: a download cut short gives no drafts rather than some
            for _ in self._lines():
                pass
        except (OSError, UnicodeDecodeError, EOFError) as e:
            path = self.source_files()[0]
            self.quarantine("malformed annotation file", f"{path.name}: not gzip UTF-8 JSON lines ({e})", file=path)
            return
        yield from self._records()

    @staticmethod
    def conversation(record: Record) -> tuple[str, Conversation]:
        if isinstance(record.data, Conversation):
            return record.record_id, record.data
        try:
            conv = Conversation.model_validate(json.loads(record.data))
        except json.JSONDecodeError as e:
            raise RecordError("malformed record", f"not valid JSON ({e.msg} at char {e.pos})") from None
        except ValidationError as e:
            err = e.errors()[0]
            raise RecordError("malformed record", f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        record_id = check_component(conv.md5, "conversation md5") if conv.md5 else \
            "efaqa-" + digest(conv.title, conv.date, conv.chats[0].value if conv.chats else "", length=16)
        return record_id, conv

    @cached_property
    def _replies(self) -> list[tuple[str, str, str]]:
        """(record id, concern s1, supporter turn): the wrong-option pool, the supporter replies of every readable
        conversation, or a seeded sample of `reply_pool_max` of them (reservoir sampling as the corpus streams)."""
        pool: list[tuple[str, str, str]] = []
        rng, seen, cap = seeded_rng(self.seed, "pc-reply-pool"), 0, self.config.reply_pool_max
        limit = self.config.max_chars_per_turn
        try:
            for record in self._records():
                try:
                    record_id, conv = self.conversation(record)
                    turns, _ = turns_of(conv)
                except Exception:  # noqa: BLE001 - unreadable records are quarantined by the parse, not here
                    continue
                for speaker, text in turns[1:]:
                    if speaker != SUPPORTER:
                        continue
                    entry = (record_id, conv.label.get("s1", ""), clip_turn(text, limit))
                    if len(pool) < cap:
                        pool.append(entry)
                    elif (k := rng.randrange(seen + 1)) < cap:
                        pool[k] = entry
                    seen += 1
        except (OSError, UnicodeDecodeError, EOFError):
            return []  # records() quarantines the file
        return pool

    def plan(self, record: Record) -> tuple[str, Conversation, Plan]:
        record_id, conv = self.conversation(record)
        turns, harmful = turns_of(conv)
        turns = [(s, clip_turn(t, self.config.max_chars_per_turn)) for s, t in turns]
        replies = [k for k, (s, _) in enumerate(turns) if s == SUPPORTER and k >= self.config.min_turns]
        if not any(s == SUPPORTER for s, _ in turns):
            raise RecordError("no supporter reply", f"conversation {record_id}: no reply from the audience")
        if not replies:
            raise RecordError("context too short", f"conversation {record_id}: {len(turns) - 1} turns after the "
                                                   f"post; PC needs {self.config.min_turns} before the reply")
        k = replies[-1]
        context = turns[:k]
        if len(context) > self.config.max_turns:
            context = context[:1] + context[-(self.config.max_turns - 1):]
        answer = turns[k][1]
        concern = conv.label.get("s1", "")
        others = self._nearest_replies(record_id, concern, answer, self.config.distractor_candidates,
                                       seeded_rng(self.seed, "pc-distractors", record_id))
        return record_id, conv, Plan(context=context, answer=answer, harmful=harmful, candidates=others)

    @cached_property
    def _replies_by_length(self) -> tuple[list[tuple[str, str, str]], list[int]]:
        pool = sorted(self._replies, key=lambda r: (len(r[2]), r[2], r[0]))
        return pool, [len(t) for _, _, t in pool]

    def _nearest_replies(self, record_id: str, concern: str, answer: str, n: int, rng) -> list[str]:
        """The `n` replies of other conversations about another concern closest in length to `answer`.

        The pool is sorted by length once; lengths are visited outwards from the answer's, and within one length
        (thousands of replies share one in a real corpus) the walk starts at a seeded place, so each conversation
        costs about `n` steps, not a pass over the pool."""
        pool, lengths = self._replies_by_length
        target, found, seen = len(answer), [], set()
        widest = max(target - lengths[0], lengths[-1] - target) if pool else -1
        for distance in range(widest + 1):
            sides = [target] if distance == 0 else rng.sample([target - distance, target + distance], 2)
            for length in sides:
                lo, hi = bisect_left(lengths, length), bisect_right(lengths, length)
                if lo == hi:
                    continue
                start = rng.randrange(lo, hi)
                for i in chain(range(start, hi), range(lo, start)):
                    rid, s1, text = pool[i]
                    if rid != record_id and s1 != concern and text != answer and text not in seen:
                        seen.add(text)
                        found.append(text)
                        if len(found) == n:
                            return found
        return found

    def speech_jobs(self, only: Collection[str] | None = None) -> Iterator[SpeechJob]:
        for record in self.records_among(only):
            try:
                record_id, _, plan = self.plan(record)
            except Exception:  # noqa: BLE001 - the parse step quarantines it with the reason
                continue
            yield SpeechJob(id=record_id, turns=plan.context, extra_texts=[plan.answer, *plan.harmful,
                                                                            *plan.candidates],
                            judge_replies=self.config.judge_distractors)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        record_id, conv, plan = self.plan(record)
        speech = self.speech_for(record_id)
        judged = speech.get("judgements", {})
        # A wrong option the LLM finds appropriate here too would make two right answers: it is not offered.
        hard = [t for t in plan.harmful if judged.get(t) != "yes"]
        rest = [t for t in plan.candidates if judged.get(t) != "yes"]
        english = lambda texts: [self.english(speech, t) for t in texts]  # noqa: E731
        clip = self.audio_clip(speech)
        concern = conv.label.get("s1", "")
        return [self.draft(
            task="PC", record_id=record_id, answers=english([plan.answer]), hard_distractors=english(hard),
            distractors=english(rest), clip=clip,
            provenance=Provenance(source=self.name, record_id=record_id, group=record_id,
                                  original_file=record.file.name, start_s=clip.start_s, end_s=clip.end_s,
                                  annotation_file=record.file.name, annotation_row=record.row),
            annotations={"context_zh": [{"speaker": s, "text": t} for s, t in plan.context],
                         "answer_zh": plan.answer, "concern": CONCERNS.get(concern, concern),
                         "labels": conv.label, "reply_judgements": {self.english(speech, t): v
                                                                    for t, v in judged.items()},
                         "dropped_as_appropriate": english([t for t in plan.harmful + plan.candidates
                                                            if judged.get(t) == "yes"]),
                         **self.speech_annotations(speech)})]
