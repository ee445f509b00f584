"""Each adapter on the embedded sample (the sources' real formats): the exact drafts and quarantine entries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from humansense.config import SourcesConfig
from humansense.sample import annotation_root
from humansense.schema import normalise_text
from humansense.sources import ADAPTERS, adapter_class
from humansense.sources.activitynet import describe

SEED = 2026


def parse(name: str, root: Path | None = None, evidence_dir: str | None = None, **options):
    """The adapter's result, each draft's shared pool resolved into its `distractors` (to check what it holds)."""
    config = getattr(SourcesConfig(), name).model_copy(update=options)
    adapter = adapter_class(name)(config, root or annotation_root(name), SEED, evidence_dir)
    result = adapter.parse()
    result.drafts = [d.model_copy(update={"distractors": adapter.wrong_options(d)}) for d in result.drafts]
    return result


def drafts_by(result, task: str) -> dict:
    return {d.provenance.record_id: d for d in result.drafts if d.task == task}


def quarantine_of(result) -> set[tuple]:
    return {(q.reason, q.row, q.record_id) for q in result.quarantined}


def assert_clean_pool(draft, forbidden: set[str]):
    pool = {normalise_text(x) for x in draft.distractors + draft.hard_distractors}
    assert not pool & {normalise_text(x) for x in forbidden}, pool & {normalise_text(x) for x in forbidden}


def test_celebvhq_emotions_spans_and_crops():
    result = parse("celebvhq")
    er = drafts_by(result, "ER")
    assert {k: d.answers[0] for k, d in er.items()} == {
        "aB3dE5fG7hI_0": "Happy", "aB3dE5fG7hI_1": "Sad", "_x9Kq2Lm0Zp_3": "Surprise", "Zz9Yy8Xx7Ww_0": "Disgust",
        "aB3dE5fG7hI_3": "Anger"}
    # sep_flag: the longest segment (sadness, 0.8-4.0 s of a clip starting at 8.0 s) becomes the clip
    sad = er["aB3dE5fG7hI_1"]
    assert (sad.clip.start_s, sad.clip.end_s) == pytest.approx((8.8, 12.0))
    assert "Sad" not in sad.distractors and len(sad.distractors) == 7
    clip = er["_x9Kq2Lm0Zp_3"].clip
    assert clip.source_path.endswith("raw/_x9Kq2Lm0Zp.mp4") and (clip.start_s, clip.end_s) == (3.0, 7.5)
    assert clip.crop.square and clip.crop.top == 0.0 and clip.crop.left == pytest.approx(0.1675)


def test_celebvhq_appearance_answers_are_present_and_distractors_absent():
    pa = drafts_by(parse("celebvhq"), "PA")
    assert set(pa) == {"aB3dE5fG7hI_0", "aB3dE5fG7hI_1", "_x9Kq2Lm0Zp_3", "Zz9Yy8Xx7Ww_0", "aB3dE5fG7hI_3",
                       "_x9Kq2Lm0Zp_4"}
    bald = pa["_x9Kq2Lm0Zp_3"]
    assert set(bald.answers) <= {"Male", "Eyeglasses", "Bald", "Mustache", "Chubby"} and 1 <= len(bald.answers) <= 3
    # present attributes and anything confusable with them are never wrong options
    assert_clean_pool(bald, {"Male", "Eyeglasses", "Bald", "Mustache", "Chubby", "Sunglasses", "Receding hairline",
                             "Goatee", "No beard", "Double chin", "Blurry"})
    assert "Young" in bald.distractors and "Wavy hair" in bald.distractors


def test_celebvhq_quarantine_names_rows_and_reasons():
    result = parse("celebvhq")
    assert quarantine_of(result) == {
        ("no usable label", 4, "-Qw3Er5Ty7U_0"), ("unknown label", 4, "-Qw3Er5Ty7U_0"),
        ("malformed record", 5, "aB3dE5fG7hI_2"), ("unsafe id", 8, None), ("segment too short", 9, "_x9Kq2Lm0Zp_4")}
    unknown = next(q for q in result.quarantined if q.reason == "unknown label")
    assert unknown.file == "celebvhq_info.json" and "'bored'" in unknown.detail and "row 4" in unknown.detail


def test_celebvhq_prefers_processed_clips_and_reads_old_top_key(tmp_path: Path):
    root = tmp_path / "celebvhq"
    shutil.copytree(annotation_root("celebvhq"), root)
    info = json.loads((root / "celebvhq_info.json").read_text())
    info["mete_info"] = info.pop("meta_info")  # the spelling of older README revisions
    (root / "celebvhq_info.json").write_text(json.dumps(info))
    (root / "processed").mkdir()
    (root / "processed" / "aB3dE5fG7hI_0.mp4").write_bytes(b"")
    er = drafts_by(parse("celebvhq", root), "ER")
    clip = er["aB3dE5fG7hI_0"].clip
    assert clip.source_path.endswith("processed/aB3dE5fG7hI_0.mp4") and clip.crop is None
    assert (clip.start_s, clip.end_s) == (0.0, 4.0)


def test_ava_groups_rows_per_person_and_keyframe(sample_roots):
    result = parse("ava", sample_roots["ava"])
    ar = drafts_by(result, "AR")
    actions = {k: d.annotations["actions"] for k, d in ar.items()}
    assert actions == {
        "-aB3xYz9QwE,0902,1": ["stand", "talk to (e.g., self, a person, a group)", "watch (a person)"],
        "-aB3xYz9QwE,0902,2": ["listen to (a person)", "sit"],
        "-aB3xYz9QwE,0905,1": ["carry/hold (an object)", "drink", "text on/look at a cellphone", "walk"],
        "_Kp2Lm8Nq4R,0910,1": ["hand clap", "stand"],
        "_Kp2Lm8Nq4R,0906,3": ["hand wave", "run/jog"]}
    for k, d in ar.items():
        assert set(d.answers) <= set(actions[k]) and 1 <= len(d.answers) <= 3
    four = ar["-aB3xYz9QwE,0905,1"]
    assert len(four.answers) == 3  # four true actions: three shown, the fourth is not offered as wrong
    assert_clean_pool(four, set(actions["-aB3xYz9QwE,0905,1"]) | {"lift/pick up", "touch (an object)", "put down",
                                                                   "answer phone"})
    two_people = ar["-aB3xYz9QwE,0902,1"].clip
    assert two_people.crop is not None and two_people.crop.left == pytest.approx(0.05)
    assert (two_people.start_s, two_people.end_s) == (900.5, 903.5)
    assert ar["-aB3xYz9QwE,0905,1"].clip.crop is None  # alone at that keyframe: the whole frame
    assert two_people.source_path.endswith("trainval/-aB3xYz9QwE.mkv")
    assert ar["_Kp2Lm8Nq4R,0910,1"].clip.source_path.endswith("trainval/_Kp2Lm8Nq4R.mp4")
    assert quarantine_of(result) == {
        ("unknown label", 12, "_Kp2Lm8Nq4R"), ("malformed row", 13, "_Kp2Lm8Nq4R"),
        ("malformed row", 14, "_Kp2Lm8Nq4R"), ("excluded timestamp", 17, "_Kp2Lm8Nq4R,0913,1")}


def test_ava_keyframes_split_across_the_file_are_gathered(sample_roots, tmp_path: Path):
    """The published files keep a keyframe's rows together and are streamed a keyframe at a time; a file whose
    keyframe rows are apart (hand-edited, concatenated) is gathered in memory and gives the same questions."""
    root = tmp_path / "ava"
    shutil.copytree(sample_roots["ava"], root)
    csv_file = root / "ava_val_v2.2.csv"
    lines = csv_file.read_text().splitlines()
    moved = [line for line in lines if line.startswith("-aB3xYz9QwE,0902,") and line.endswith(",2")]
    csv_file.write_text("\n".join([line for line in lines if line not in moved] + moved) + "\n")
    before, after = drafts_by(parse("ava", sample_roots["ava"]), "AR"), drafts_by(parse("ava", root), "AR")
    assert set(after) == set(before)
    for k, d in before.items():
        same_clip = after[k].clip.model_copy(update={"source_path": d.clip.source_path})
        assert (after[k].annotations, same_clip, after[k].answers) == (d.annotations, d.clip, d.answers)
    assert after["-aB3xYz9QwE,0902,2"].annotations["persons_in_frame"] == 2


def test_celebvhq_broken_file_gives_no_drafts_and_key_order_does_not_matter(tmp_path: Path):
    """The clips are streamed, but a file broken anywhere (cut short in transit) is refused whole, not half read;
    `meta_info` may come after `clips`."""
    root = tmp_path / "celebvhq"
    shutil.copytree(annotation_root("celebvhq"), root)
    info_file = root / "celebvhq_info.json"
    info = json.loads(info_file.read_text())
    text = json.dumps(info)
    info_file.write_text(text[: int(len(text) * 0.8)])
    result = parse("celebvhq", root)
    assert [q.reason for q in result.quarantined] == ["malformed annotation file"] and not result.drafts
    assert "premature EOF" in result.quarantined[0].detail
    info_file.write_text(json.dumps({"clips": info["clips"], "meta_info": info["meta_info"]}))
    reordered = parse("celebvhq", root)
    assert sorted(d.id for d in reordered.drafts) == sorted(d.id for d in parse("celebvhq").drafts)


def test_ava_cut_layout_shifts_keyframes():
    ar = drafts_by(parse("ava", layout="cut_900_1800"), "AR")
    clip = ar["-aB3xYz9QwE,0902,1"].clip
    assert (clip.start_s, clip.end_s) == (0.5, 3.5)


def test_jester_labels_frames_and_quarantine():
    result = parse("jester")
    gr = drafts_by(result, "GR")
    assert {k: d.answers[0] for k, d in gr.items()} == {
        "34870": "Drumming Fingers", "56557": "Sliding Two Fingers Right", "1201": "Thumb Up",
        "1202": "Swiping Left", "1203": "Stop Sign", "1207": "Zooming In With Full Hand"}
    d = gr["34870"]
    assert d.clip.kind == "frames" and d.clip.frame_pattern == "%05d.jpg" and d.clip.first_frame == 1
    assert d.clip.fps == 12.0 and d.clip.source_path.endswith("20bn-jester-v1/34870")
    assert len(d.distractors) == 24 and not {"No gesture", "Doing other things"} & set(d.distractors)
    assert quarantine_of(result) == {("label not used for GR", 6, "1204"), ("unknown label", 7, "1205"),
                                     ("unsafe id", 8, None), ("malformed row", 10, "1208")}


def test_activitynet_sequences_in_order():
    result = parse("activitynet")
    cm = drafts_by(result, "CM")
    assert set(cm) == {"v_QOlSCBRmfWY", "v_ehGHCYKzyZ8", "v_-x1Yq2Z3a4B", "v_Uu1Vv2Ww3Xx"}
    kitchen = cm["v_QOlSCBRmfWY"]
    assert kitchen.answers == ["A young woman stands in a kitchen and waves at the camera, then she picks up a bowl "
                               "and begins whisking eggs, then she pours the mixture into a pan and smiles."]
    assert (kitchen.clip.start_s, kitchen.clip.end_s) == (0.83, 39.5)
    # two kinds, by a seeded draw per video: "which order" and "which description" (the paper's CM)
    assert {k: d.annotations["cm_kind"] for k, d in cm.items()} == {
        "v_QOlSCBRmfWY": "description", "v_ehGHCYKzyZ8": "order", "v_-x1Yq2Z3a4B": "order",
        "v_Uu1Vv2Ww3Xx": "description"}
    canoe = cm["v_ehGHCYKzyZ8"]
    assert len(canoe.hard_distractors) == 5  # the other orders of the same three events
    assert all(len(h) == len(canoe.answers[0]) for h in canoe.hard_distractors)
    assert canoe.clip.end_s == 30.0  # the last caption ends past the video's duration: clamped
    # a description item's wrong options are the other videos' event windows, told the same way (never its own)
    others = {cm[v].answers[0] for v in cm if v != "v_QOlSCBRmfWY"}
    assert not kitchen.hard_distractors and set(kitchen.distractors) == others
    assert quarantine_of(result) == {("malformed record", 4, "v_Mm4Nn5Oo6Pp"),
                                     ("too few ordered events", 5, "v_Qq7Rr8Ss9Tt")}


def test_describe_lowercases_only_ordinary_openings():
    assert describe(["Two men row.", " They sing.", "John waves."]) == "Two men row, then they sing, then John waves."


def test_ucf_crime_spans_classes_and_confusables(sample_roots):
    result = parse("ucf_crime", sample_roots["ucf_crime"])
    ac = drafts_by(result, "AC")
    spans = {k: (d.answers[0], d.clip.start_s, d.clip.end_s) for k, d in ac.items()}
    assert spans == {
        "Arrest003_x264.mp4": ("Arrest", 2.0, 14.0), "Burglary014_x264.mp4": ("Burglary", 1.0, 12.0),
        "Fighting002_x264.mp4": ("Fighting", 0.0, 10.0), "Normal_Videos_017_x264.mp4": ("Nothing abnormal", 0, 20.0),
        "Explosion008_x264.mp4": ("Explosion", 0.0, 7.0)}
    assert ac["Arrest003_x264.mp4"].clip.source_path.endswith("Anomaly-Videos-Part-1/Arrest/Arrest003_x264.mp4")
    assert_clean_pool(ac["Burglary014_x264.mp4"], {"Robbery", "Stealing", "Shoplifting"})
    assert_clean_pool(ac["Fighting002_x264.mp4"], {"Abuse", "Assault"})
    assert "Nothing abnormal" in ac["Arrest003_x264.mp4"].distractors
    assert quarantine_of(result) == {("unknown label", 6, "Jaywalking001_x264.mp4"),
                                     ("malformed row", 7, "Shooting010_x264.mp4")}


def test_tao_counts_distinct_person_tracks():
    result = parse("tao")
    hc = drafts_by(result, "HC")
    assert {k: d.answers[0] for k, d in hc.items()} == {
        "val/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e": "3", "val/Charades/3F2ZV": "1"}
    three = hc["val/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e"]
    # every other count is a candidate (drawn by answer frequency when augmented): no neighbours preferred
    assert not three.hard_distractors
    assert (three.clip.frame_pattern, three.clip.first_frame, three.clip.frame_count) == ("frame%04d.jpg", 1, 51)
    assert set(three.distractors) == set("12456789")  # 0 is never the count: the questions presuppose people
    assert quarantine_of(result) == {("person tracks not exhaustive", 3, "val/HACS/v_Kq2LmZz0001"),
                                     ("no person to count", 4, "val/YFCC100M/v_0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
                                     ("unsafe id", 5, None)}


def test_tao_merged_person_categories_count_and_big_crowds_are_refused(tmp_path: Path):
    data = json.loads((annotation_root("tao") / "validation.json").read_text())
    data["categories"][0]["merged"] = [{"id": 94, "name": "bicycle", "synset": "bicycle.n.01"}]
    data["videos"][1]["not_exhaustive_category_ids"] = []  # bicycles (now people) are exhaustive there
    for i in range(100, 110):  # ten more people in the Charades video
        data["tracks"].append({"id": i, "category_id": 805, "video_id": 1})
    (tmp_path / "validation.json").write_text(json.dumps(data))
    result = parse("tao", tmp_path)
    hc = drafts_by(result, "HC")
    assert hc["val/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e"].answers == ["4"]  # the merged category counts
    assert ("count outside 0-9", 2, "val/Charades/3F2ZV") in quarantine_of(result)


# skindeep and realtalk are folders of videos (and info.json files): no fixed annotation file to be missing or empty
@pytest.mark.parametrize("name", sorted(set(ADAPTERS) - {"skindeep", "realtalk"}))
def test_every_adapter_quarantines_empty_and_missing_annotation_files(name, tmp_path: Path):
    adapter = adapter_class(name)(getattr(SourcesConfig(), name), tmp_path, SEED)
    result = adapter.parse()
    assert [q.reason for q in result.quarantined] == ["missing annotation file"]
    for f in adapter.annotation_files():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    result = adapter_class(name)(getattr(SourcesConfig(), name), tmp_path, SEED).parse()
    assert [q.reason for q in result.quarantined] == ["empty annotation file"]
    assert result.quarantined[0].file and not result.drafts


@pytest.mark.parametrize("name, file", [("celebvhq", "celebvhq_info.json"), ("activitynet", "val_1.json"),
                                        ("tao", "validation.json")])
def test_json_sources_quarantine_undecodable_files(name, file, tmp_path: Path):
    shutil.copytree(annotation_root(name), tmp_path, dirs_exist_ok=True)
    (tmp_path / file).write_bytes(b'{"clips": \xff\xfe broken')
    result = parse(name, tmp_path)
    assert [q.reason for q in result.quarantined] == ["malformed annotation file"]
    assert result.quarantined[0].file == file and not result.drafts


def test_skindeep_reads_captions_before_titles_and_keeps_the_evidence(tmp_path: Path):
    root = annotation_root("skindeep")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "Ab3dEf9hIjK.ocr.json").write_text(json.dumps({"status": "ok", "frames": [
        {"t": 1.0, "texts": [{"text": "Married 6 years", "confidence": 0.99, "box": [[0, 0], [1, 0], [1, 1], [0, 1]]},
                             {"text": "blurry", "confidence": 0.3, "box": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}]}))
    (evidence / "Zx9Cv8Bn7Ml.ocr.json").write_text(json.dumps({"status": "ok", "frames": [
        {"t": 2.0, "texts": [{"text": "Cousins", "confidence": 0.97, "box": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}]}))
    result = parse("skindeep", root, evidence_dir=str(evidence))
    rg, fr = drafts_by(result, "RG"), drafts_by(result, "FR")
    assert {k: d.answers[0] for k, d in rg.items()} == {"Ab3dEf9hIjK": "Married", "Qw3Er5Ty7Ui": "Dating",
                                                       "Lk4Jh3Gf2Ds": "Friends", "Zx9Cv8Bn7Ml": "Cousins"}
    assert {k: d.answers[0] for k, d in fr.items()} == {"Ab3dEf9hIjK": "More than 3 years",
                                                       "Qw3Er5Ty7Ui": "Less than 1 year",
                                                       "Pm7Nb6Vc5Xz": "Less than 1 year"}  # "Two Strangers"
    married = rg["Ab3dEf9hIjK"]
    evidence_on_item = married.annotations["evidence"]
    assert evidence_on_item["captions"] == [{"t": 1.0, "text": "Married 6 years", "confidence": 0.99}]
    assert evidence_on_item["source_of_evidence"] == "captions" and evidence_on_item["years"] == 6.0
    assert (married.clip.start_s, married.clip.end_s) == (0.0, 20.0)  # the whole 20 s video (under 150 s)
    assert_clean_pool(rg["Qw3Er5Ty7Ui"], {"Engaged"})  # an engaged couple is dating too
    assert fr["Qw3Er5Ty7Ui"].distractors == ["More than 3 years"]
    # Each info.json is one record: its row is 1, whatever its place among the downloads.
    assert quarantine_of(result) == {("familiarity between buckets", 1, "Lk4Jh3Gf2Ds"),
                                     ("no relation found", 1, "Pm7Nb6Vc5Xz"),
                                     ("no length found", 1, "Zx9Cv8Bn7Ml"),
                                     *{("transcript too short", 1, vid) for vid in [
                                         "Ab3dEf9hIjK", "Lk4Jh3Gf2Ds", "Pm7Nb6Vc5Xz", "Qw3Er5Ty7Ui", "Zx9Cv8Bn7Ml"]}}


def test_skindeep_without_info_files_is_quarantined(tmp_path: Path):
    result = parse("skindeep", tmp_path)
    assert [q.reason for q in result.quarantined] == ["missing annotation file"]


def test_skindeep_rapport_items_from_transcript_and_llm_score(tmp_path: Path):
    def asr(words: str) -> str:
        return json.dumps({"status": "ok", "kind": "asr", "segments": [{"start": 0, "end": 9, "text": words}]})

    def score(atmosphere: str, conflict: str) -> str:
        return json.dumps({"status": "ok", "kind": "llm", "model": "m", "raw": "{}", "data": {
            "interaction_frequency": 4, "atmosphere": atmosphere, "viewpoint_conflict": conflict, "rationale": "r"}})

    long_talk = " ".join(["we talk and laugh together every day"] * 5)
    (tmp_path / "Ab3dEf9hIjK.asr.json").write_text(asr(long_talk))
    (tmp_path / "Ab3dEf9hIjK.rapport.json").write_text(score("pleasant", "none"))
    (tmp_path / "Qw3Er5Ty7Ui.asr.json").write_text(asr(long_talk))
    (tmp_path / "Qw3Er5Ty7Ui.rapport.json").write_text(score("tense", "strong"))
    (tmp_path / "Lk4Jh3Gf2Ds.asr.json").write_text(asr(long_talk))
    (tmp_path / "Lk4Jh3Gf2Ds.rapport.json").write_text(score("neutral", "some"))
    (tmp_path / "Zx9Cv8Bn7Ml.asr.json").write_text(asr("too short"))
    result = parse("skindeep", annotation_root("skindeep"), evidence_dir=str(tmp_path))
    rr = drafts_by(result, "RR")
    assert {k: (d.answers, d.distractors) for k, d in rr.items()} == {
        "Ab3dEf9hIjK": (["Harmonious"], ["With challenges"]), "Qw3Er5Ty7Ui": (["With challenges"], ["Harmonious"])}
    assert rr["Ab3dEf9hIjK"].annotations["rapport"]["atmosphere"] == "pleasant"
    assert rr["Ab3dEf9hIjK"].annotations["transcript"].startswith("we talk and laugh")
    reasons = {(q.reason, q.record_id) for q in result.quarantined if q.task == "RR"}
    assert reasons == {("rapport ambiguous", "Lk4Jh3Gf2Ds"), ("transcript too short", "Zx9Cv8Bn7Ml"),
                       ("transcript too short", "Pm7Nb6Vc5Xz")}


def test_skindeep_reads_yt_dlp_default_names(tmp_path: Path):
    """`<title> [<id>].info.json` beside `<title> [<id>].mp4` (yt-dlp's default output template) is read with the id
    from the brackets, or from the info.json when the name has none; the media is found under its own name."""
    for stem, vid, title in [("Married 6 Years - What We Never Say [Ab3dEf9hIjK]", "Ab3dEf9hIjK", "Married 6 years"),
                             ("no brackets here", "Qw3Er5Ty7Ui", "Dating 2 months")]:
        (tmp_path / f"{stem}.info.json").write_text(json.dumps({"id": vid, "title": title, "duration": 30}))
        (tmp_path / f"{stem}.mp4").write_bytes(b"not decoded by the parser")
    result = parse("skindeep", tmp_path)
    rg = drafts_by(result, "RG")
    assert {k: d.answers[0] for k, d in rg.items()} == {"Ab3dEf9hIjK": "Married", "Qw3Er5Ty7Ui": "Dating"}
    assert rg["Ab3dEf9hIjK"].provenance.original_file == "Married 6 Years - What We Never Say [Ab3dEf9hIjK].mp4"
    assert not [q for q in result.quarantined if q.reason == "unsafe id"]


def test_annotation_files_are_hashed_once_a_process_until_they_change(tmp_path: Path, monkeypatch):
    """A build keys an annotated source's parse twice (predicted, then by the task) and writes the digests in its
    summary; RealTalk's EMOCA files are GBs at full size, so each is read once while it is unchanged."""
    import os

    import humansense.sources.stage as stage

    read = []
    monkeypatch.setattr(stage, "sha256_file", lambda p: read.append(p.name) or f"sha:{p.read_text()}")
    stage._annotation_digest.cache_clear()
    a, b = tmp_path / "a.pkl", tmp_path / "b.pkl"
    a.write_text("jaw 1")
    b.write_text("jaw 2")
    files = [a, b, tmp_path / "missing.pkl"]
    first = stage.annotation_digests(files)
    assert first == {"a.pkl": "sha:jaw 1", "b.pkl": "sha:jaw 2", "missing.pkl": None}
    assert stage.annotation_digests(files) == first and sorted(read) == ["a.pkl", "b.pkl"]
    a.write_text("jaw 9")  # same size, new bytes: a later modification time says so
    stat = a.stat()
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert stage.annotation_digests(files)["a.pkl"] == "sha:jaw 9" and sorted(read) == ["a.pkl", "a.pkl", "b.pkl"]
    b.write_text("jaw 10")  # another size
    assert stage.annotation_digests(files)["b.pkl"] == "sha:jaw 10"
