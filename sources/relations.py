"""Relationship type and length of acquaintance from The Skin Deep's words: titles, descriptions, on-screen captions.

FORMATS.md section 11: the series title is `{THE AND} <headline> with <Name> & <Name>`; strings such as "Married
6 years" or "Dating 2 months" may be in the title, the description, or only on screen. This normaliser reads any of
them, tolerant of `years|yrs|months|weeks`, digits or number words, and maps them to fixed vocabularies:

* relation (RG): Married, Engaged, Dating, Exes, Friends, Siblings, Cousins, Parent and child
* familiarity (FR): "More than 3 years" / "Less than 1 year"; a length between one and three years fits neither
  option of the paper's two-way question and is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RELATIONS = {  # option text -> phrases that name it (matched as whole words, case-insensitive)
    "Married": ["married", "husband and wife", "wife and husband", "spouses", "newlyweds"],
    "Engaged": ["engaged", "fiance", "fiancee", "fiancé", "fiancée"],
    "Dating": ["dating", "boyfriend and girlfriend", "girlfriend and boyfriend", "partners", "couple"],
    "Exes": ["exes", "ex-couple", "ex couple", "divorced", "broke up", "former couple"],
    "Friends": ["best friends", "friends", "best friend", "roommates"],
    "Siblings": ["siblings", "sisters", "brothers", "brother and sister", "sister and brother", "twins"],
    "Cousins": ["cousins"],
    "Parent and child": ["mother and son", "mother and daughter", "father and son", "father and daughter",
                         "mom and son", "mom and daughter", "dad and son", "dad and daughter", "mother & son",
                         "mother & daughter", "father & son", "father & daughter", "parent and child", "mom & son",
                         "mom & daughter", "dad & son", "dad & daughter"],
}
# More specific phrases first, so that "best friends" is not read as "friends" of a couple, etc.
_ORDER = ["Parent and child", "Exes", "Engaged", "Married", "Siblings", "Cousins", "Friends", "Dating"]
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                "thirty": 30, "forty": 40, "fifty": 50}
UNIT_YEARS = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "mo": 1 / 12, "week": 1 / 52, "day": 1 / 365}
_LENGTH = re.compile(r"\b(\d+(?:\.\d+)?|" + "|".join(NUMBER_WORDS) + r")\+?\s*(years?|yrs?|months?|mos?|weeks?|days?)\b",
                     re.IGNORECASE)
FAMILIAR = "More than 3 years"
UNFAMILIAR = "Less than 1 year"


@dataclass(frozen=True)
class Reading:
    relation: str | None
    years: float | None
    relation_text: str | None  # the words that gave it, for the item's evidence
    length_text: str | None


def _relation(text: str) -> tuple[str | None, str | None]:
    low = text.lower()
    for name in _ORDER:
        for phrase in sorted(RELATIONS[name], key=len, reverse=True):
            if re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
                return name, phrase
    return None, None


def _length(text: str) -> tuple[float | None, str | None]:
    m = _LENGTH.search(text)
    if not m:
        return None, None
    raw = m.group(1).lower()
    number = float(NUMBER_WORDS.get(raw, raw))
    unit = m.group(2).lower().rstrip("s")
    unit = "mo" if unit == "mo" else unit
    return round(number * UNIT_YEARS[unit], 4), m.group(0)


def read_relation(texts: list[str]) -> Reading:
    """The first relation and the first length found, searching the texts in the order given."""
    relation = relation_text = length_text = None
    years = None
    for text in texts:
        if relation is None:
            relation, relation_text = _relation(text)
        if years is None:
            years, length_text = _length(text)
    return Reading(relation, years, relation_text, length_text)


def familiarity(years: float | None) -> str | None:
    if years is None:
        return None
    if years > 3:
        return FAMILIAR
    if years < 1:
        return UNFAMILIAR
    return None
