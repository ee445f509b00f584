"""The benchmark's task table: the one place that states each task's facts.

Every stage reads this table (sources for kinds and option counts, augment for templates, qc for levels,
release for `task_type` strings and targets). Counts are the paper's released figures (HumanSense, AAAI 2026;
arXiv 2508.10576).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from humansense.answer_rules import MULTI_PATTERN, NUMERAL_PATTERN, SINGLE_PATTERN


class Level(StrEnum):
    L1 = "L1"  # surface perception
    L2 = "L2"  # complex perception
    L3 = "L3"  # contextual understanding
    L4 = "L4"  # feedback strategy


class Kind(StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    NUMERAL = "numeral"


class Modality(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


# The authors' `question_pattern` strings, matched exactly by their scorer.
QUESTION_PATTERN = {Kind.SINGLE: SINGLE_PATTERN, Kind.MULTI: MULTI_PATTERN, Kind.NUMERAL: NUMERAL_PATTERN}


class TaskSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    abbr: str
    name: str
    level: Level
    kind: Kind
    options: int  # options shown; for numeral tasks, the candidate counts kept for multiple-choice variants
    target: int  # questions in the paper's release
    modality: Modality
    source: str  # the source adapter's name
    task_type: str  # the authors' `task_type` string
    # The answers are classes from a small set (a label, a count, left/right; for AR the set of actions): selection
    # evens them out in eval.
    answer_classes: bool = True
    # The options are labels from a closed vocabulary: wrong options are drawn by how often each label is an answer
    # (in the same split), so each label is correct about 1/options of the times it is shown; the length rule is for
    # free-text options (CM's event sequences, PC's replies), where a label's length would identify it.
    label_options: bool = True
    # An answer saying nothing of the kind happened ("Nothing abnormal", "Not a fraud"): the task's templates may not
    # presuppose the event (`augment/templates.py` refuses "the unusual event", "what kind of scam").
    null_answer: str | None = None


TASKS: dict[str, TaskSpec] = {
    t.abbr: t
    for t in [
        TaskSpec(abbr="PA", name="Person Appearance", level=Level.L1, kind=Kind.MULTI, options=4, target=300,
                 modality=Modality.VIDEO, source="celebvhq", task_type="Appearance_Recognition",
                 answer_classes=False),
        TaskSpec(abbr="AR", name="Action Recognition", level=Level.L1, kind=Kind.MULTI, options=4, target=300,
                 modality=Modality.VIDEO, source="ava", task_type="Action_Recognition"),
        TaskSpec(abbr="GR", name="Gesture Recognition", level=Level.L1, kind=Kind.SINGLE, options=4, target=300,
                 modality=Modality.VIDEO, source="jester", task_type="Gesture_Recognition"),
        TaskSpec(abbr="ER", name="Emotion Recognition", level=Level.L1, kind=Kind.SINGLE, options=4, target=300,
                 modality=Modality.VIDEO, source="celebvhq", task_type="Emotion_Recognition"),
        TaskSpec(abbr="CM", name="Complex Motion", level=Level.L2, kind=Kind.SINGLE, options=4, target=281,
                 modality=Modality.VIDEO, source="activitynet", task_type="Complex_Motion",
                 answer_classes=False, label_options=False),
        # "Abnormal_Recognition" is skipped by the authors' scorer, so AC must not use it (their score.py).
        TaskSpec(abbr="AC", name="Abnormal Classification", level=Level.L2, kind=Kind.SINGLE, options=4, target=100,
                 modality=Modality.VIDEO, source="ucf_crime", task_type="Abnormal_Classification",
                 null_answer="Nothing abnormal"),
        TaskSpec(abbr="HC", name="Human Counting with ReID", level=Level.L2, kind=Kind.NUMERAL, options=4,
                 target=360, modality=Modality.VIDEO, source="tao", task_type="Human_Counting"),
        TaskSpec(abbr="TR", name="Talking Person Recognition", level=Level.L2, kind=Kind.SINGLE, options=2,
                 target=300, modality=Modality.VIDEO, source="realtalk", task_type="Talkingperson_Recognition"),
        TaskSpec(abbr="FR", name="Familiarity Recognition", level=Level.L3, kind=Kind.SINGLE, options=2, target=200,
                 modality=Modality.VIDEO, source="youtube", task_type="Familiarity_Recognition"),
        TaskSpec(abbr="RR", name="Rapport Recognition", level=Level.L3, kind=Kind.SINGLE, options=2, target=200,
                 modality=Modality.VIDEO, source="youtube", task_type="Rapport_Recognition"),
        TaskSpec(abbr="RG", name="Relation Recognition", level=Level.L3, kind=Kind.SINGLE, options=4, target=150,
                 modality=Modality.VIDEO, source="youtube", task_type="Relation_Recognition"),
        TaskSpec(abbr="LD", name="Lie Detection", level=Level.L3, kind=Kind.SINGLE, options=2, target=200,
                 modality=Modality.VIDEO, source="seumld", task_type="Lie_Detection"),
        TaskSpec(abbr="FG", name="Fraud Recognition", level=Level.L3, kind=Kind.SINGLE, options=4, target=300,
                 modality=Modality.AUDIO, source="telecom_fraud", task_type="Fraud_Recognition",
                 null_answer="Not a fraud: an ordinary call"),
        TaskSpec(abbr="ES", name="Emo Strategy", level=Level.L4, kind=Kind.SINGLE, options=4, target=300,
                 modality=Modality.VIDEO, source="realtalk", task_type="Emo_Strategy"),
        TaskSpec(abbr="PC", name="Psychological Chat", level=Level.L4, kind=Kind.SINGLE, options=4, target=291,
                 modality=Modality.AUDIO, source="efaqa", task_type="Psychological_Chat",
                 answer_classes=False, label_options=False),
    ]
}

assert sum(t.target for t in TASKS.values()) == 3882, "the task table must add up to the paper's 3,882 questions"


def task(abbr: str) -> TaskSpec:
    try:
        return TASKS[abbr]
    except KeyError:
        raise KeyError(f"unknown task {abbr!r}; known: {', '.join(TASKS)}") from None
