"""The annotated-task sources: TR and ES (RealTalk), LD (our SEUMLD manifest), FG (fraud calls), PC (counselling
dialogues). Parsers run on the sample's real-format files; the annotator outputs they read are pinned here from
the real engines' results (the engines themselves run in the sample build and in test_annotators)."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fakellm import FakeLLM
from humansense.annotators.translate import check_translation, load_memory, memory_key, translate_all
from humansense.config import AnnotatorsConfig, LlmConfig, SourcesConfig
from humansense.sample import annotation_root
from humansense.sources import adapter_class
from humansense.sources.efaqa import turns_of, Conversation
from humansense.sources.realtalk import EXPRESSIONS, jaw_activity, load_emoca, speaker_of
from humansense.sources.base import RecordError
from humansense.sources.telecom_fraud import split_row

SEED = 2026


def adapter(name: str, root: Path | None = None, evidence_dir: str | None = None, **options):
    config = getattr(SourcesConfig(), name).model_copy(update=options)
    return adapter_class(name)(config, root or annotation_root(name), SEED, evidence_dir)


def quarantine_of(result) -> set[tuple]:
    return {(q.reason, q.file, q.row) for q in result.quarantined}


def pin_speech(evidence: Path, job, english: dict[str, str], wav: Path, judgements: dict | None = None) -> None:
    """A `<id>.speech.json` as the annotate step writes it, for a job whose texts have the given translations."""
    texts = [t for _, t in job.turns] + job.extra_texts
    (evidence / f"{job.id}.speech.json").write_text(json.dumps({
        "status": "ok", "wav": str(wav), "duration_s": 12.5, "voice": "en_US-joe-medium", "phone_band": job.phone_band,
        "turns": [{"speaker": s, "text": english[t], "start_s": 0.0, "end_s": 1.0} for s, t in job.turns],
        "translations": {t: {"source": t, "text": english[t], "by": "memory"} for t in texts},
        "judgements": judgements or {}, "judged_by": None}, ensure_ascii=False))


# FG ------------------------------------------------------------------------------------------------------------

def test_fraud_rows_are_split_on_the_last_comma_and_unquoted():
    assert split_row('"您好,取件码是DIGIT,请领取。",0') == ("您好,取件码是DIGIT,请领取。", "0")
    assert split_row('"他说""转账""就行",冒充客服服务') == ('他说"转账"就行', "冒充客服服务")
    assert split_row('"明天开会，请带上报表。,0') == ("明天开会，请带上报表。", "0")  # a quote never closed
    with pytest.raises(RecordError, match="no ','"):
        split_row("没有逗号")


def test_fraud_files_in_bom_gbk_and_crlf_give_calls_and_named_quarantine(tmp_path: Path):
    root = annotation_root("telecom_fraud")
    assert (root / "label00-last.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # the fixtures keep the real bytes
    assert b"\r\n" in (root / "label00-last.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        (root / "label04-last.csv").read_bytes().decode("utf-8")  # label04 is GBK
    memory = load_memory(root / "translations.en.jsonl")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    jobs = list(adapter("telecom_fraud").speech_jobs())
    assert len(jobs) == 7 and all(j.arrangement == "call" and j.phone_band for j in jobs)
    for job in jobs:
        pin_speech(evidence, job, {t: memory[memory_key(t)] for _, t in job.turns}, tmp_path / f"{job.id}.wav")
    result = adapter("telecom_fraud", evidence_dir=str(evidence)).parse()
    answers = {d.annotations["text_zh"][:6]: d.answers[0] for d in result.drafts}
    assert answers == {
        "【中国移动】": "Not a fraud: an ordinary call", "您好,您的快": "Not a fraud: an ordinary call",
        "明天下午三点": "Not a fraud: an ordinary call", "您好，我是X": "Impersonating police or government",
        "您好，我们是": "Fake loan or credit card offer", "您好，我是淘": "Impersonating customer service",
        "小王，我是你": "Impersonating a boss or acquaintance"}
    leader = next(d for d in result.drafts if d.annotations["label"] == "冒充领导、熟人类")
    assert leader.annotations["text_en"].startswith("Xiao Wang, this is your boss")
    assert leader.clip.output == "audio" and leader.clip.end_s == 12.5 and leader.provenance.annotation_row == 2
    assert leader.provenance.original_file == "label04-last.csv" and leader.id.startswith("fg-")
    assert sorted(leader.distractors) == ["Fake loan or credit card offer", "Impersonating customer service",
                                          "Impersonating police or government", "Not a fraud: an ordinary call"]
    assert quarantine_of(result) == {
        ("malformed row", "label00-last.csv", 5), ("unknown label", "label01-last.csv", 3),
        ("duplicate text", "label02-last.csv", 3), ("text length", "label03-last.csv", 3)}
    # Without its rendered call a record is quarantined, not dropped.
    (evidence / f"{jobs[0].id}.speech.json").write_text(json.dumps({"status": "none", "reason": "untranslated",
                                                                    "detail": "3 of 3 characters are Chinese"}))
    again = adapter("telecom_fraud", evidence_dir=str(evidence)).parse()
    assert len(again.drafts) == 6 and ("untranslated", "label00-last.csv", 2) in quarantine_of(again)


def test_fraud_call_is_spoken_by_two_voices_in_the_phone_band(tmp_path: Path):
    from humansense.annotators.asr import FasterWhisperEngine, transcribe
    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.speech import speech_evidence

    root = annotation_root("telecom_fraud")
    police = next(j for j in adapter("telecom_fraud").speech_jobs() if "公安局" in j.turns[0][1])
    counts = speech_evidence([police], tmp_path, AnnotatorsConfig(), tmp_path / "cache", root / "translations.en.jsonl")
    assert counts["spoken"] == 1 and counts["from_memory"] == 1 and counts["llm_account"] == {}  # no LLM started
    speech = json.loads((tmp_path / f"{police.id}.speech.json").read_text())
    speakers = [t["speaker"] for t in speech["turns"]]
    assert speakers[0] == 1 and speech["turns"][0]["text"] == "Hello?"  # the callee picks up
    assert set(speakers) == {0, 1} and all(a != b for a, b in zip(speakers, speakers[1:]))
    assert "Alex" in " ".join(t["text"] for t in speech["turns"])  # the NAME placeholder is read as a name
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", speech["wav"]],
                           capture_output=True, check=True, timeout=60)
    (stream,) = json.loads(probe.stdout)["streams"]
    assert stream["sample_rate"] == "8000" and stream["codec_name"] == "pcm_mulaw"
    heard = transcribe(Path(speech["wav"]), FasterWhisperEngine(), AnnotationCache(tmp_path / "asr")).text.lower()
    assert "bank card" in heard and "money laundering" in heard


# Translation ---------------------------------------------------------------------------------------------------

def test_machine_translations_that_echo_chinese_are_refused_and_memory_comes_first(tmp_path: Path):
    from humansense.annotators.llm import LlmClient, translate_many
    from humansense.annotators.base import AnnotationCache

    assert check_translation("你好", "你好<|im_end|>") is not None
    assert check_translation("你好", "Hello there.") is None
    assert "characters for" in check_translation("你好", "word " * 40)
    with FakeLLM({"translation": "您好，我是客服"}) as echo:  # what the packaged 270M model does
        client = LlmClient(LlmConfig(base_url=echo.url, model="fake", timeout_s=2), AnnotationCache(tmp_path))
        out = translate_all(["您好，我是客服", "已知"], {"已知": "Known."}, lambda ts: translate_many(client, ts), "fake")
        assert out["已知"].text == "Known." and out["已知"].by == "memory"
        assert out["您好，我是客服"].reason == "untranslated" and "Chinese" in out["您好，我是客服"].detail
        assert len(echo.requests) == 1  # the memory hit never reached the LLM
    (tmp_path / "bad.jsonl").write_text('{"source": "a", "target": "b"}\n{"source": "c"}\n')
    with pytest.raises(ValueError, match="bad.jsonl, line 2"):
        load_memory(tmp_path / "bad.jsonl")


def test_a_round_holds_only_the_translations_its_texts_use(tmp_path: Path, monkeypatch):
    """A translation memory may be as large as the corpus (the generated full-size EFAQA's holds 340,000 texts at
    scale 2, 59 MB): a round of speech keeps the entries for its own texts, and a typo anywhere is still found."""
    import humansense.annotators.speech as stage

    root = annotation_root("telecom_fraud")
    memory_file = tmp_path / "translations.en.jsonl"
    others = [json.dumps({"source": f"别的句子{i}", "target": f"Another sentence {i}."}, ensure_ascii=False)
              for i in range(5000)]
    memory_file.write_text("\n".join(others) + "\n" + (root / "translations.en.jsonl").read_text(encoding="utf-8"),
                           encoding="utf-8")
    assert len(load_memory(memory_file)) > 5000
    assert load_memory(memory_file, wanted={memory_key("别的句子7")}) == {"别的句子7": "Another sentence 7."}
    held = []
    monkeypatch.setattr(stage, "load_memory", lambda *a, **k: held.append(load_memory(*a, **k)) or held[-1])
    police = next(j for j in adapter("telecom_fraud").speech_jobs() if "公安局" in j.turns[0][1])
    counts = stage.speech_evidence([police], tmp_path / "ev", AnnotatorsConfig(), tmp_path / "cache", memory_file)
    assert counts["spoken"] == 1 and counts["from_memory"] >= 1  # spoken from the memory, no LLM
    assert 1 <= len(held[0]) <= len([t for _, t in police.turns]) and not any(k.startswith("别的") for k in held[0])
    (tmp_path / "late-typo.jsonl").write_text("\n".join(others) + '\n{"source": "c"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="late-typo.jsonl, line 5001"):
        load_memory(tmp_path / "late-typo.jsonl", wanted={memory_key("别的句子7")})


# PC ------------------------------------------------------------------------------------------------------------

def test_counselling_turns_merge_messages_and_leave_harmful_replies_out():
    conv = Conversation.model_validate({"title": "女 睡不着", "description": "考试", "chats": [
        {"sender": "audience", "value": "多久了？"}, {"sender": "owner", "value": "两周"},
        {"sender": "audience", "value": "熬着吧", "label": {"negative": True}}, {"sender": "owner", "value": "好难"},
        {"sender": "audience", "value": "试试深呼吸"}]})
    turns, harmful = turns_of(conv)
    assert turns == [(0, "睡不着，考试"), (1, "多久了？"), (0, "两周\n好难"), (1, "试试深呼吸")]
    assert harmful == ["熬着吧"]


EXAM = "0d3f5c0e8a2b4c1d9e7f6a5b4c3d2e1f"
BREAKUP = "想挽回的心情可以理解。先照顾好自己的作息，给彼此一些空间，等情绪平稳一些再决定要不要联系她。"


def english_of_efaqa():
    memory = {zh: en for zh, en in load_memory(annotation_root("efaqa") / "translations.en.jsonl").items()}
    return lambda text: " ".join(memory[memory_key(p)] for p in text.split("\n"))


def pin_efaqa_speech(tmp_path: Path) -> tuple[Path, dict]:
    """The sample corpus's speech evidence as the annotate step writes it (the LLM finding BREAKUP a fitting reply
    in the exam conversation too); returns the evidence folder and the speech jobs by id."""
    english = english_of_efaqa()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    jobs = {j.id: j for j in adapter("efaqa").speech_jobs()}
    for job in jobs.values():
        texts = [t for _, t in job.turns] + job.extra_texts
        judged = {BREAKUP: "yes"} if job.id == EXAM else {}
        pin_speech(evidence, job, {t: english(t) for t in texts}, tmp_path / "x.wav", judged)
    return evidence, jobs


def test_counselling_items_take_the_last_reply_and_wrong_options_from_other_concerns(tmp_path: Path):
    english, breakup = english_of_efaqa(), BREAKUP
    evidence, jobs = pin_efaqa_speech(tmp_path)
    assert len(jobs) == 4 and all(j.judge_replies == "auto" for j in jobs.values())
    exam = jobs[EXAM]
    assert len(exam.turns) == 5 and exam.turns[-1] == (0, "可是我越想睡越睡不着，越睡不着就越担心考不好。\n我也知道要睡，可就是做不到。")
    result = adapter("efaqa", evidence_dir=str(evidence)).parse()
    item = next(d for d in result.drafts if d.provenance.record_id == exam.id)
    assert item.answers == ["Before bed, try putting your phone away and taking a few deep breaths. Write your "
                            "worries on paper and tell yourself you will deal with them tomorrow."]
    assert item.hard_distractors == ["Stop overthinking. If you cannot sleep, just put up with it like everyone else, "
                                     "and if you fail, it is because you did not work hard enough."]
    assert english(breakup) not in item.distractors
    assert item.annotations["dropped_as_appropriate"] == [english(breakup)]
    # Closest in length first: the other conversations' final replies, then shorter ones.
    assert set(item.distractors[:2]) == {english("你的身体在提醒你需要休息了。先和信任的人聊聊，也可以找专业的心理咨询师，一起想想下一步怎么走。"),
                                         english("可以在他们都平静的时候再认真说一次：你爱他们，但不想再当裁判。你的感受同样重要，值得被听见。")}
    assert item.annotations["concern"] == "Insomnia" and item.clip.output == "audio"
    assert {(q.reason, q.row) for q in result.quarantined} == {
        ("context too short", 5), ("malformed record", 6), ("unsafe id", 7), ("no supporter reply", 8)}
    assert len(result.drafts) == 4


def test_a_parse_of_some_records_reads_only_those(tmp_path: Path, monkeypatch):
    """The annotate stage counts each round's drafts by parsing only the records it just annotated (`only`): the
    drafts are those the whole parse makes for them, and no other conversation is planned (a plan searches the
    reply pool for wrong options; a whole-corpus parse a round cost seconds per round at 20,000 conversations)."""
    from humansense.sources.efaqa import EfaqaAdapter

    evidence, jobs = pin_efaqa_speech(tmp_path)
    whole = adapter("efaqa", evidence_dir=str(evidence)).parse()
    planned: list[str] = []
    plan = EfaqaAdapter.plan
    monkeypatch.setattr(EfaqaAdapter, "plan", lambda self, record: planned.append(record.record_id) or
                        plan(self, record))
    some = sorted(jobs)[:2]
    part = adapter("efaqa", evidence_dir=str(evidence)).parse(only=some)
    assert sorted(planned) == some and part.records_read == 2 and not part.quarantined
    assert [d.model_dump() for d in part.drafts] == [d.model_dump() for d in whole.drafts
                                                     if d.provenance.record_id in some]
    assert len(whole.drafts) == 4


# LD ------------------------------------------------------------------------------------------------------------

def test_lie_detection_reads_our_manifest_with_subjects_as_groups():
    result = adapter("seumld").parse()
    items = {d.provenance.record_id: d for d in result.drafts}
    assert {k: d.answers[0] for k, d in items.items()} == {
        "s01_q01": "No", "s01_q02": "Yes", "s02_q01": "Yes", "s02_q02": "No", "s03_q01": "No", "s03_q02": "Yes",
        "s05_q01": "Yes"}  # s05's video is missing: the media stage quarantines it
    assert items["s01_q02"].provenance.group == "s01" and items["s01_q02"].clip.start_s == 9.0
    assert items["s01_q02"].annotations["transcript"] == "No, I have never seen that envelope before."
    assert {(q.reason, q.row) for q in result.quarantined} == {
        ("segment too short", 8), ("unknown label", 9), ("unsafe id", 10)}


# TR and ES -----------------------------------------------------------------------------------------------------

def _emoca(frames: int, talking: dict[str, tuple[int, int]]) -> dict:
    def jaw(person, f):
        lo, hi = talking.get(person, (-1, -1))
        return 0.12 * abs(np.sin(f)) if lo <= f < hi else 0.01
    return {f: {p: {"pose": np.array([0, 0, 0, jaw(p, f), 0, 0], np.float32)} for p in ("p0", "p1")}
            for f in range(frames)}


def test_emoca_pickles_that_would_run_code_are_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(RecordError, match="refused to load os.system"):
        load_emoca(evil)
    assert not marker.exists()
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps(_emoca(50, {"p1": (10, 40)})))
    activity = jaw_activity(load_emoca(good), 10, 39)
    assert activity["p1"] > 0.03 and activity["p0"] == 0.0
    assert speaker_of(activity, 1.5) == "p1" and speaker_of({"p0": 0.02, "p1": 0.025}, 1.5) is None
    assert jaw_activity(load_emoca(good), 100, 120) == {"p0": None, "p1": None}  # nobody seen: no decision


def test_realtalk_items_from_asr_segments_jaw_motion_and_the_listeners_face(tmp_path: Path):
    root, evidence = tmp_path / "realtalk", tmp_path / "evidence"
    (root / "videos").mkdir(parents=True)
    (root / "emoca").mkdir()
    evidence.mkdir()
    (root / "videos" / "Rt5hxY5Svr2.avi").write_bytes(b"")  # parsing reads the annotations only
    (root / "emoca" / "Rt5hxY5Svr2.pkl").write_bytes(pickle.dumps(_emoca(300, {"p0": (12, 75), "p1": (95, 170)})))
    segments = [{"start": 0.5, "end": 3.0, "text": "So how was your first week at the new job?"},
                {"start": 3.8, "end": 6.8, "text": "Honestly it was much better than I expected."},
                {"start": 7.2, "end": 8.0, "text": "Okay."}]
    (evidence / "Rt5hxY5Svr2.asr.json").write_text(json.dumps({"status": "ok", "segments": segments}))
    smile = {"frames_sampled": 6, "frames_with_face": 6, "dominant": "happy",
             "distribution": {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.97, "sad": 0.0, "surprise": 0.01,
                              "neutral": 0.02}}
    (evidence / "Rt5hxY5Svr2.faces.json").write_text(json.dumps({"segments": [
        {"left": {**smile, "region": "left"}, "right": None}, {"left": None, "right": {**smile, "region": "right"}},
        {"left": None, "right": None}]}))
    # TR clips reach 40 s before and 20 s after the utterance, so these two would overlap and one conversation gives
    # only one of them (selection never keeps overlapping spans of a group); with shorter context it gives both.
    (only,) = [d for d in adapter("realtalk", root, evidence_dir=str(evidence)).parse().drafts if d.task == "TR"]
    assert only.clip.start_s == 0.0 and only.clip.end_s in (23.0, 26.8)
    result = adapter("realtalk", root, evidence_dir=str(evidence), tr_before_s=0.5, tr_after_s=0.3).parse()
    tr = {d.template_vars["utterance"]: d for d in result.drafts if d.task == "TR"}
    assert {u: d.answers[0] for u, d in tr.items()} == {
        "So how was your first week at the new job?": "The person on the left",
        "Honestly it was much better than I expected": "The person on the right"}  # "Okay." is too short to ask
    first = tr["So how was your first week at the new job?"]
    assert (first.clip.start_s, first.clip.end_s) == (0.0, 3.3) and first.annotations["speaker"] == "p0"
    assert first.annotations["jaw_activity"]["p0"] > 1.5 * first.annotations["jaw_activity"]["p1"]
    (es,) = [d for d in result.drafts if d.task == "ES"]
    assert es.answers == ["Happy"] and (es.clip.start_s, es.clip.end_s) == (0.5, 3.0)
    assert es.annotations["listener"] == "p1" and es.annotations["listener_expression"]["region"] == "right"
    assert "Happy" not in es.distractors and es.provenance.group == "Rt5hxY5Svr2"
    # A listener whose face is rarely found gives no ES question.
    faces = json.loads((evidence / "Rt5hxY5Svr2.faces.json").read_text())
    faces["segments"][1]["right"]["frames_with_face"] = 1
    (evidence / "Rt5hxY5Svr2.faces.json").write_text(json.dumps(faces))
    assert not [d for d in adapter("realtalk", root, evidence_dir=str(evidence)).parse().drafts if d.task == "ES"]
    (evidence / "Rt5hxY5Svr2.faces.json").write_text('{"segments": [')  # damaged: quarantined, named, not a crash
    damaged = adapter("realtalk", root, evidence_dir=str(evidence)).parse()
    assert [q.reason for q in damaged.quarantined] == ["unreadable evidence"] and not damaged.drafts
    assert "Rt5hxY5Svr2.faces.json" in damaged.quarantined[0].detail
    shutil.rmtree(root / "emoca")
    missing = adapter("realtalk", root, evidence_dir=str(evidence)).parse()
    assert [q.reason for q in missing.quarantined] == ["no speaker evidence"] and not missing.drafts


def test_evidence_files_are_named_by_checked_ids_and_known_kinds(tmp_path: Path):
    """The one place evidence files are named: what the annotate stage writes is what a source reads back, an id
    from a source file never names a file outside the folder, and a kind nobody reads is refused."""
    from humansense.annotators.asr import AsrResult
    from humansense.evidence import EvidenceFolder
    from humansense.ids import UnsafeIdError

    folder = EvidenceFolder(tmp_path)
    written = AsrResult(engine="faster-whisper", model="tiny.en", language="en", span=(0.0, 2.0),
                        segments=[{"start": 0.1, "end": 1.9, "text": "Hello there."}])
    assert folder.write("Rt5hxY5Svr2", "asr", written) == tmp_path / "Rt5hxY5Svr2.asr.json"
    assert AsrResult.model_validate(folder.read("Rt5hxY5Svr2", "asr")) == written
    assert folder.read("Rt5hxY5Svr2", "faces") is None and folder.files("asr") == [tmp_path / "Rt5hxY5Svr2.asr.json"]
    with pytest.raises(UnsafeIdError):
        folder.write("../escape", "asr", written)
    with pytest.raises(ValueError, match="unknown evidence kind"):
        folder.read("Rt5hxY5Svr2", "transcript")
    folder.write_manifest(["b", "a"], ["c"])
    assert json.loads(folder.manifest_file.read_text()) == {"ids": ["a", "b"], "not_reached": ["c"]}
    assert folder.not_reached() == {"c"} and EvidenceFolder(tmp_path / "none").not_reached() == set()

    from humansense.annotators.stage import annotation_units

    root = tmp_path / "realtalk"
    (root / "videos").mkdir(parents=True)
    for name in ("Rt5hxY5Svr2.avi", "bad name;x.avi"):
        (root / "videos" / name).write_bytes(b"")
    assert list(annotation_units(adapter("realtalk", root))) == ["Rt5hxY5Svr2"]  # the unsafe one is not annotated
    parsed = adapter("realtalk", root, evidence_dir=str(tmp_path / "evidence")).parse()
    assert "unsafe id" in {q.reason for q in parsed.quarantined}  # but reported


def test_faces_are_read_only_over_the_replies_es_comes_to_and_give_the_same_items(tmp_path: Path):
    """Reading faces over every segment of a ten-minute conversation is most of its annotation time, yet ES asks
    about three replies: the annotate step runs ES's own seeded pick, reading a reply's faces only when the pick
    comes to it, and the parse of those few faces makes the same ES items as faces read everywhere."""
    root, evidence = tmp_path / "realtalk", tmp_path / "evidence"
    (root / "videos").mkdir(parents=True)
    (root / "emoca").mkdir()
    evidence.mkdir()
    (root / "videos" / "Rt5hxY5Svr2.avi").write_bytes(b"")
    turns = 60  # 3 s each, the two people taking turns
    emoca = {f: {p: {"pose": np.array([0, 0, 0, 0.12 * abs(np.sin(f)) if (f // 75) % 2 == k else 0.01, 0, 0],
                                      np.float32)} for k, p in enumerate(("p0", "p1"))} for f in range(turns * 75)}
    (root / "emoca" / "Rt5hxY5Svr2.pkl").write_bytes(pickle.dumps(emoca))
    asr = {"status": "ok", "segments": [{"start": 3 * k + 0.2, "end": 3 * k + 2.8, "text": f"Sentence number {k} "
                                         "is said here once."} for k in range(turns)]}
    (evidence / "Rt5hxY5Svr2.asr.json").write_text(json.dumps(asr))

    def faces_of(k: int) -> dict:  # every third listener's face is rarely found; the others smile or look sad
        look = "happy" if k % 2 else "sad"
        seen = {"frames_sampled": 6, "frames_with_face": 1 if k % 3 == 0 else 6, "dominant": look,
                "distribution": {e: (0.9 if e == look else 0.0) for e in EXPRESSIONS}}
        return {"index": k, "start": 3 * k + 0.2, "end": 3 * k + 2.8, "reason": None,
                "left": {**seen, "region": "left"}, "right": {**seen, "region": "right"}}

    def es_items() -> list[tuple]:
        drafts = adapter("realtalk", root, evidence_dir=str(evidence)).parse().drafts
        return sorted((d.id, d.answers[0], d.clip.start_s) for d in drafts if d.task == "ES")

    (evidence / "Rt5hxY5Svr2.faces.json").write_text(json.dumps({"segments": [faces_of(k) for k in range(turns)]}))
    everywhere = es_items()
    reads: list[int] = []
    entries = adapter("realtalk", root).read_faces("Rt5hxY5Svr2", asr, lambda k: reads.append(k) or faces_of(k))
    assert sorted(entries) == sorted(reads) and 3 <= len(reads) < 10  # of 59 replies
    (evidence / "Rt5hxY5Svr2.faces.json").write_text(json.dumps({"segments": [entries[k] for k in sorted(entries)]}))
    assert es_items() == everywhere and len(everywhere) == 3
    (root / "emoca" / "Rt5hxY5Svr2.pkl").write_bytes(b"cos\nsystem\n(S'true'\ntR.")  # refused: nothing read
    assert adapter("realtalk", root).read_faces("Rt5hxY5Svr2", asr, lambda k: reads.append(k)) == {}
    shutil.rmtree(root / "emoca")  # nobody known to speak: no reply, nothing read
    assert adapter("realtalk", root).read_faces("Rt5hxY5Svr2", asr, lambda k: reads.append(k)) == {}


def test_reply_judgements_run_only_with_a_configured_llm_and_are_stored(tmp_path: Path):
    from humansense.annotators.speech import speech_evidence

    root = annotation_root("efaqa")
    job = next(j for j in adapter("efaqa").speech_jobs() if j.id == "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b")
    memory = root / "translations.en.jsonl"
    counts = speech_evidence([job], tmp_path / "a", AnnotatorsConfig(), tmp_path / "cache", memory)
    assert counts["llm_account"] == {}  # "auto" with the packaged model: not asked
    assert json.loads((tmp_path / "a" / f"{job.id}.speech.json").read_text())["judgements"] == {}
    with FakeLLM({"appropriate": "no"}) as fake:
        cfg = AnnotatorsConfig(llm=LlmConfig(base_url=fake.url, model="fake", timeout_s=5))
        speech_evidence([job], tmp_path / "b", cfg, tmp_path / "cache", memory)
        assert len(fake.requests) == len(job.extra_texts)
        assert "Supporter:" in fake.requests[0]["messages"][1]["content"]
    speech = json.loads((tmp_path / "b" / f"{job.id}.speech.json").read_text())
    assert speech["judgements"] == {t: "no" for t in job.extra_texts} and speech["judged_by"] == "fake"
    assert [t["speaker"] for t in speech["turns"]] == [0, 1, 0, 1, 0]  # asker and supporter alternate


def test_rapport_reviews_replace_the_llm_and_name_bad_lines(tmp_path: Path):
    from humansense.annotators.rapport import load_reviews, rapport_label

    reviews = load_reviews(annotation_root("skindeep") / "rapport.reviewed.jsonl")
    assert {v: rapport_label(r.data) for v, r in reviews.items()} == {"Ab3dEf9hIjK": "Harmonious",
                                                                      "Qw3Er5Ty7Ui": "With challenges"}
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"video_id": "a", "score": {"interaction_frequency": 9, "atmosphere": "pleasant", '
                   '"viewpoint_conflict": "none", "rationale": "x"}}\n')
    with pytest.raises(ValueError, match="r.jsonl, line 1: not a rapport review"):
        load_reviews(bad)


def test_annotate_stops_once_selection_has_what_it_needs(tmp_path: Path):
    """The fraud texts are spoken in a seeded order, in rounds, only until FG's drafts cover its need; the records
    not reached are counted as not annotated, not quarantined, and a later parse skips them."""
    from humansense.annotators.stage import annotate_source, annotation_units
    from humansense.config import AnnotationBudgetConfig, BuildConfig, SplitConfig

    root = annotation_root("telecom_fraud")
    config = BuildConfig(split=SplitConfig(eval_targets={"FG": 2}),
                         annotation_budget=AnnotationBudgetConfig(train_per_task=1, margin=0))
    source_config = config.sources.telecom_fraud
    evidence = tmp_path / "evidence"
    counts = annotate_source(adapter_class("telecom_fraud"), source_config, root, evidence, config, tmp_path / "cache")
    units = annotation_units(adapter("telecom_fraud", root))
    assert counts["need"] == {"FG": 3} and counts["drafts"]["FG"] >= 3
    assert counts["annotated"] < counts["records"] == len(units) >= 7  # never all of them
    assert counts["speech"]["jobs"] == counts["annotated"] == len(list(evidence.glob("*.speech.json")))
    manifest = json.loads((evidence / "annotated.json").read_text())
    assert len(manifest["ids"]) == counts["annotated"]
    assert len(manifest["not_reached"]) == len(units) - counts["annotated"]
    result = adapter("telecom_fraud", root, evidence_dir=str(evidence)).parse()
    assert len(result.drafts) == counts["drafts"]["FG"]
    assert result.not_annotated == len(units) - counts["annotated"]
    assert "not spoken" not in {q.reason for q in result.quarantined}  # skipped, not blamed
    assert {q.reason for q in result.quarantined} == {q.reason for q in adapter("telecom_fraud", root).parse()
                                                      .quarantined} - {"not spoken"}  # bad rows keep their reason
    again = annotate_source(adapter_class("telecom_fraud"), source_config, root, tmp_path / "again", config, tmp_path / "cache")
    assert json.loads((tmp_path / "again" / "annotated.json").read_text()) == manifest  # the same seeded records
    assert again["speech"]["misses"] == 0 and again["speech"]["hits"] >= again["annotated"]  # all from the cache


def per_round(drafts_so_far):
    """A stand-in `count_drafts(ids)` from the drafts of all records annotated so far: what the latest round added."""
    counted: dict[str, Counter] = {}

    def count(ids):
        now = drafts_so_far()
        added = {t: c - counted.get(t, Counter()) for t, c in now.items()}
        counted.update(now)
        return added
    return count


def record_rounds(monkeypatch, adapter_class_, n_units: int, suffix: str, tmp_path: Path) -> tuple[type, list[int]]:
    """An adapter of `n_units` stand-in videos, and the sizes of the annotate rounds (the annotators not run)."""
    from humansense.annotators import stage

    class StandIn(adapter_class_):
        def videos(self):
            return [(f"v{k:03d}", tmp_path / f"v{k:03d}{suffix}") for k in range(n_units)]

    rounds: list[int] = []
    monkeypatch.setattr(stage, "gather_evidence", lambda adapter, out, cfg, cache, units: rounds.append(len(units))
                        or {})
    return StandIn, rounds


def test_annotate_starts_from_the_fewest_records_that_could_meet_the_need(monkeypatch, tmp_path: Path):
    """Conversations give up to `max_per_video` items per task: the first round takes need / that many records (not
    one record per draft needed), and the next round is sized from the yield seen."""
    from humansense.annotators import stage
    from humansense.config import RealtalkConfig
    from humansense.sources.realtalk import RealtalkAdapter

    Conversations, rounds = record_rounds(monkeypatch, RealtalkAdapter, 100, ".avi", tmp_path)
    done = lambda: sum(rounds)  # noqa: E731
    counts = stage.annotate_needed(Conversations(RealtalkConfig(max_per_video=3), tmp_path), tmp_path, None,
                                   tmp_path, {"TR": 30, "ES": 30}, 7,
                                   per_round(lambda: {"TR": Counter({("left", "c"): 3 * done()}),
                                                      "ES": Counter({("happy", "c"): 2 * done()})}))
    assert rounds == [10, 6]  # 30 / 3; then ES short by 10 at 2 per record, a fifth more: 6
    assert counts["annotated"] == 16 and counts["drafts"] == {"TR": 48, "ES": 32}
    manifest = json.loads((tmp_path / "annotated.json").read_text())
    assert len(manifest["ids"]) == 16 and len(manifest["not_reached"]) == 84


def test_annotation_work_follows_the_targets_not_the_source_size(monkeypatch, tmp_path: Path):
    """Ten times the conversations, the same yield per conversation: the same rounds and the same number annotated
    (the work grows with the targets, not the source); and the seeded order of a grown source keeps the old records'
    relative order, so records added upstream displace only the few that they rank ahead of."""
    from humansense.annotators import stage
    from humansense.config import RealtalkConfig
    from humansense.sources.realtalk import RealtalkAdapter

    runs = {}
    for n_units in (100, 1000):
        Conversations, rounds = record_rounds(monkeypatch, RealtalkAdapter, n_units, ".avi", tmp_path)
        counts = stage.annotate_needed(Conversations(RealtalkConfig(max_per_video=3), tmp_path), tmp_path, None,
                                       tmp_path, {"TR": 60, "ES": 40}, 7,
                                       per_round(lambda: {"TR": Counter({("left", "c"): 2 * sum(rounds)}),
                                                          "ES": Counter({("happy", "c"): sum(rounds) // 2})}))
        runs[n_units] = (list(rounds), counts["annotated"], counts["records"])
    assert runs[100][:2] == runs[1000][:2] == ([20, 20, 40], 80)  # rounds at most double
    assert (runs[100][2], runs[1000][2]) == (100, 1000)

    small = {f"v{k:03d}": None for k in range(100)}
    grown = small | {f"w{k:04d}": None for k in range(900)}
    assert [u for u in stage.annotate_order(grown, 7, "realtalk") if u in small] == \
        stage.annotate_order(small, 7, "realtalk")


def test_long_annotation_rounds_say_how_far_they_are(monkeypatch, tmp_path: Path, caplog):
    """An annotate round at the paper's targets runs for an hour on two cores: the stage lines (the quiet
    terminal's) say each round's size and drafts, and within a step a line at most every 30 s, and its end."""
    from humansense import terminal
    from humansense.annotators import stage
    from humansense.config import RealtalkConfig
    from humansense.sources.realtalk import RealtalkAdapter

    clock = iter([0.0, 10.0, 40.0, 50.0, 100.0])
    monkeypatch.setattr(terminal.time, "perf_counter", lambda: next(clock))
    caplog.set_level("INFO", logger="humansense.stages")
    ticker = terminal.Ticker("realtalk conversations", 4)
    for _ in range(4):
        ticker.tick()
    assert [r.getMessage() for r in caplog.records] == ["realtalk conversations: 2 of 4 (20.0 s each)",
                                                        "realtalk conversations: 4 of 4 (25.0 s each)"]
    caplog.clear()
    monkeypatch.undo()
    Conversations, rounds = record_rounds(monkeypatch, RealtalkAdapter, 100, ".avi", tmp_path)
    caplog.set_level("INFO", logger="humansense.stages")
    stage.annotate_needed(Conversations(RealtalkConfig(max_per_video=3), tmp_path), tmp_path, None, tmp_path,
                          {"TR": 30}, 7, per_round(lambda: {"TR": Counter({("left", "c"): 2 * sum(rounds)})}))
    assert [r.getMessage() for r in caplog.records] == [
        "realtalk: annotate round 1, 10 records (0 of 100 done)", "realtalk: drafts TR 20 of 30",
        "realtalk: annotate round 2, 6 records (10 of 100 done)", "realtalk: drafts TR 32 of 30"]


def test_a_task_that_yields_nothing_is_given_up_and_rounds_grow_at_most_twofold(monkeypatch, tmp_path: Path):
    """RR from The Skin Deep gives no draft when the LLM scores every transcript neutral: after the first round it
    is given up instead of annotating all 400 videos for it; a low yield read off few records grows the next round
    at most to twice the records done."""
    from humansense.annotators import stage
    from humansense.config import SkindeepConfig
    from humansense.sources.skindeep import SkindeepAdapter

    Videos, rounds = record_rounds(monkeypatch, SkindeepAdapter, 400, ".mp4", tmp_path)
    need = {"FR": 30, "RR": 30, "RG": 30}
    counts = stage.annotate_needed(Videos(SkindeepConfig(), tmp_path), tmp_path, None, tmp_path, need, 7,
                                   per_round(lambda: {t: Counter({("a", "v"): sum(rounds)}) for t in ("FR", "RG")}))
    assert rounds == [30] and counts["gave_up"] == {"RR": 30} and counts["annotated"] == 30

    rounds.clear()  # one record in ten gives a draft of each task
    counts = stage.annotate_needed(Videos(SkindeepConfig(), tmp_path), tmp_path, None, tmp_path, need, 7,
                                   per_round(lambda: {t: Counter({("a", "v"): sum(rounds) // 10}) for t in need}))
    assert rounds == [30, 30, 60, 120, 72]  # 270 more wanted after the first round: doubling, then the estimate
    assert counts["gave_up"] == {} and counts["drafts"] == {t: 31 for t in need}


def test_skewed_answer_classes_are_annotated_on_until_eval_can_be_even(monkeypatch, tmp_path: Path):
    """ES's listeners look happy far more often than sad: once the plain need is met, annotation goes on until each
    class found could give its even share of eval's drafts (counting no more from one conversation than selection
    would take), sized by the short class's yield, and stops at `even_factor` times the records that met the need,
    saying what is still uneven."""
    from humansense.annotators import stage
    from humansense.budget import EvenNeed, even_class_needs
    from humansense.config import AnnotationBudgetConfig, RealtalkConfig, SplitConfig
    from humansense.sources.realtalk import RealtalkAdapter

    split, budget = SplitConfig(eval_targets={"TR": 24, "ES": 24}), AnnotationBudgetConfig(margin=0.25)
    assert even_class_needs(["TR", "ES", "PC"], split, budget) == {"TR": (30, 1), "ES": (30, 1)}  # PC: no classes
    assert even_class_needs(["ES"], split.model_copy(update={"eval_targets": {"ES": 300}}), budget) == {"ES": (375, 6)}
    assert even_class_needs(["ES"], split, budget.model_copy(update={"all_records": True})) == {}

    Conversations, rounds = record_rounds(monkeypatch, RealtalkAdapter, 400, ".avi", tmp_path)

    def drafts(sad_every: int, sad_in_one: bool) -> Counter:  # per (class, conversation): two happy replies each
        n = sum(rounds)
        found = Counter({("happy", f"c{k}"): 2 for k in range(n)})
        if sad_in_one:  # one conversation's listener always looks sad
            return found + Counter({("sad", "c0"): n // sad_every})
        return found + Counter({("sad", f"c{k}"): 1 for k in range(sad_every - 1, n, sad_every)})

    def annotate(sad_every: int, factor: float, sad_in_one: bool = False) -> dict:
        rounds.clear()
        return stage.annotate_needed(Conversations(RealtalkConfig(max_per_video=3), tmp_path), tmp_path, None,
                                     tmp_path, {"ES": 30}, 7, per_round(lambda: {"ES": drafts(sad_every, sad_in_one)}),
                                     even={"ES": EvenNeed(30, 1)}, even_factor=factor)

    counts = annotate(sad_every=2, factor=3)
    # 10 records (30 / 3 a record) give 25, 3 more meet the need; then sad (6 of 13 records) lacks 9 of its even
    # 15: 24 records wanted, 13 taken (at most twofold), then 5 for the last 2
    assert rounds == [10, 3, 13, 5] and counts["drafts"] == {"ES": 77}
    assert counts["class_supply"] == {"ES": {"happy": 31, "sad": 15}} and counts["uneven"] == {}

    counts = annotate(sad_every=5, factor=3)  # sad too rare: stops at three times the 15 records that met the need
    assert rounds == [10, 5, 15, 15] and counts["annotated"] == 45
    assert counts["uneven"] == {"ES": {"sad": 6}}  # 9 sad found of the 15 an even eval would take

    counts = annotate(sad_every=5, factor=1)  # no evening: the plain need alone
    assert rounds == [10, 5] and counts["uneven"] == {"ES": {"sad": 12}}

    counts = annotate(sad_every=2, factor=3, sad_in_one=True)  # 15 sad drafts, but one conversation gives one
    assert rounds == [10, 3, 13, 13] and counts["uneven"] == {"ES": {"sad": 14}}


def test_realtalk_picks_talking_person_clips_that_do_not_overlap(tmp_path: Path):
    """A ten-minute conversation's utterances, each TR clip 40 s before to 20 s after it: the three picked never
    overlap (an overlapping one could not be selected), and the picks are seeded."""
    realtalk = adapter("realtalk", tmp_path)
    segments = [{"index": k, "start": 3.4 * k, "end": 3.4 * k + 2.6} for k in range(176)]
    for video in ("a", "b", "c", "d"):
        picked = realtalk._pick(segments, video, "tr", realtalk._talking_span)
        spans = sorted(realtalk._talking_span(s) for s in picked)
        assert len(picked) == 3 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
        assert picked == realtalk._pick(segments, video, "tr", realtalk._talking_span)


def test_fraud_texts_are_annotated_with_their_classes_taking_turns():
    """Two thirds of the fraud texts are ordinary calls: annotated in a plain seeded order, FG's eval would follow that
    skew and "the most frequent answer" would score far above chance. Classes known before annotation take turns."""
    from humansense.annotators.stage import annotate_order, annotation_units
    from humansense.schema import SpeechJob

    rng = random.Random(3)
    labels = ["Not a fraud"] * 600 + ["Police"] * 150 + ["Loan"] * 100 + ["Boss"] * 50
    jobs = {f"r{k}": SpeechJob(id=f"r{k}", turns=[(0, "text")], answer_class=label)
            for k, label in enumerate(rng.sample(labels, len(labels)))}
    order = annotate_order(jobs, 7, "telecom_fraud")
    assert sorted(order) == sorted(jobs) and order == annotate_order(jobs, 7, "telecom_fraud")
    first = Counter(jobs[u].answer_class for u in order[:200])
    assert first == {"Not a fraud": 50, "Police": 50, "Loan": 50, "Boss": 50}
    assert Counter(jobs[u].answer_class for u in order[:300]) == {"Not a fraud": 84, "Police": 83, "Loan": 83,
                                                                   "Boss": 50}  # Boss has run out
    units = annotation_units(adapter("telecom_fraud"))
    assert all(job.answer_class for job in units.values())  # the fixture's texts carry their fraud type
    unclassed = {u: (u, Path(u)) for u in ("a", "b", "c")}  # videos: no class known, the plain seeded order
    assert sorted(annotate_order(unclassed, 7, "skindeep")) == ["a", "b", "c"]
