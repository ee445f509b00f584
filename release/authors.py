"""The authors' evaluation format (as their code at github antgroup/HumanSense reads it), so their evaluation code
runs on our release unchanged.

`data/HumanSense_VQA.json` (the 13 video tasks) and `data/HumanSense_AQA.json` (FG, PC): JSON arrays of
`{"video_path": "data/videos/<file>", "questions": {question, question_pattern, options ["A. text", ...], answer,
task_type, full_frame_number, fps, asr_en?}}`. Audio items put the audio path in `video_path` and carry no frame
fields. The train split goes to `data/train_data/merged_{video_wo_audio,audio,video_w_audio}.json` in the same record
format. There is no id field in their format; `humansense score` maps answers back by position or by
(video_path, question).
"""

from __future__ import annotations

from humansense.schema import Item
from humansense.tasks import Kind, Modality, task


# The tasks the authors' `--asr` evaluation runs on, reading `asr_en` (our transcripts of each clip).
ASR_TASKS = ("TR", "FR", "RR", "RG", "ES")


def authors_record(item: Item) -> dict:
    spec = task(item.task)
    q: dict = {
        "question": item.question,
        "question_pattern": item.question_pattern,
        # Numeral questions are answered with a digit; the candidate counts stay in our Parquet rows only.
        "options": [] if item.kind is Kind.NUMERAL else [f"{o.letter}. {o.text}" for o in item.options],
        "answer": item.answer,
        "task_type": spec.task_type,
    }
    if item.modality is Modality.VIDEO:
        frames = item.media.frame_count or round(item.media.duration_s * (item.media.fps or 0))
        q["full_frame_number"] = int(frames)
        q["fps"] = item.media.fps
    transcript = item.annotations.get("asr_en")
    if transcript or item.task in ASR_TASKS:  # their --asr mode reads the field of these five unconditionally
        q["asr_en"] = transcript or ""
    return {"video_path": item.media.path, "questions": q}


# The authors' training files (train split), by what the model is given: video alone, audio, or video with sound.
TRAIN_FILES = {
    "train_data/merged_video_wo_audio.json": ("PA", "AR", "GR", "ER", "CM", "AC", "HC", "LD"),
    "train_data/merged_audio.json": ("FG", "PC"),
    "train_data/merged_video_w_audio.json": ("TR", "FR", "RR", "RG", "ES"),
}


def authors_train_files(items: list[Item]) -> dict[str, list[dict]]:
    """The train split in the authors' record format, one file per kind of input (paths relative to the release,
    like the eval files'); eval items never appear (selection keeps their groups apart)."""
    train = [i for i in items if i.split == "train"]
    return {name: [authors_record(i) for i in train if i.task in tasks] for name, tasks in TRAIN_FILES.items()}


def authors_files(items: list[Item]) -> dict[str, list[dict]]:
    """The two arrays, eval items only (the benchmark), in a stable order."""
    eval_items = [i for i in items if i.split == "eval"]
    return {
        "HumanSense_VQA.json": [authors_record(i) for i in eval_items if i.modality is Modality.VIDEO],
        "HumanSense_AQA.json": [authors_record(i) for i in eval_items if i.modality is Modality.AUDIO],
    }
