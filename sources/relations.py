"""Relationship type and length of acquaintance from The Skin Deep's words: titles, descriptions, on-screen captions.

the published format: the series title is `{THE AND} <headline> with <Name> & <Name>`; strings such as "Married
6 years" or "Dating 2 months" may be in the title, the description, or only on screen. This reader maps them to
fixed vocabularies:

* relation (RG): Married, Engaged, Dating, Exes, Friends, Siblings, Cousins, Parent and child;
* familiarity (FR): "More than 3 years" / "Less than 1 year"; a length between one and three years fits neither
  option of the paper's two-way question and is reported as such.

A length is read only from phrases that say how long the two have known each other: a relationship word and a
duration ("married 6 years", "together for three years", "6 years of friendship", "a 2-year relationship"),
"known each other since 2015" (against the upload year), "met 4 months ago", "friends since high school",
"first date" / "just met". Ages ("25 years old"), lengths of filming ("filmed in a day"), counts of things
("5 kids") and age gaps ("sisters, 2 years apart") are not lengths of acquaintance. When several lengths are stated
("dating 2 months, friends for 10 years") the longest is how long they have known each other.

Lines a channel repeats under many videos (subscribe links, "a series about couples, friends and family") are
boilerplate: the source adapter finds them (`boilerplate_lines`) and they are read for nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

RELATIONS = {  # option text -> phrases that name it (matched as whole words, case-insensitive)
    "Married": ["married", "husband and wife", "wife and husband", "spouses", "newlyweds", "husband", "wife",
                "wedding anniversary", "marriage"],
    "Engaged": ["engaged", "fiance", "fiancee", "fiancé", "fiancée", "engagement"],
    "Dating": ["dating", "boyfriend and girlfriend", "girlfriend and boyfriend", "boyfriend", "girlfriend",
               "life partners", "couple", "in a relationship", "high school sweethearts"],
    "Exes": ["exes", "ex-couple", "ex couple", "divorced", "broke up", "former couple", "ex-wife", "ex-husband",
             "ex-boyfriend", "ex-girlfriend", "ex-fiance", "ex-fiancée", "ex-partners"],
    "Friends": ["best friends", "friends", "best friend", "roommates", "bff", "bffs", "besties", "friendship",
                "childhood friends"],
    "Siblings": ["siblings", "sisters", "brothers", "brother and sister", "sister and brother", "twins",
                 "twin sisters", "twin brothers"],
    "Cousins": ["cousins"],
    "Parent and child": [f"{p} {joint} {c}" for p in ("mother", "mom", "mum", "father", "dad", "parent")
                         for joint in ("and", "&") for c in ("son", "daughter", "child", "kid")]
                        + [f"{c} {joint} {p}" for p in ("mother", "mom", "mum", "father", "dad")
                           for joint in ("and", "&") for c in ("son", "daughter")],
}
# More specific relations first: exes were once married, an engaged pair is dating, friends may be a couple's past.
_ORDER = ["Parent and child", "Exes", "Engaged", "Married", "Siblings", "Cousins", "Dating", "Friends"]
# Words that name no relation in these uses: "a couple of weeks", "business partners", "tell your friends".
_NOT_RELATION = re.compile(
    r"\b(?:a\s+)?couple\s+(?:of|more|days|weeks|months|years|times|minutes|hours)\b|\bbusiness partners?\b|"
    r"\b(?:tell|share (?:this )?with|tag|send this to) (?:your|a) friends?\b|\bfriends and family\b|"
    r"\bfamily and friends\b|\bnot (?:married|dating|engaged)\b|\bfriends? of (?:the|our) (?:show|channel)\b",
    re.IGNORECASE)
_NOT_A_BOND = re.compile(r"\bbusiness partners?\b|\bfriends? of (?:the|our) (?:show|channel)\b", re.IGNORECASE)

NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
                "thirty": 30, "forty": 40, "fifty": 50, "a couple of": 2, "a couple": 2, "a few": 3, "several": 4,
                "many": 10, "half a": 0.5}
UNIT_YEARS = {"year": 1.0, "yr": 1.0, "decade": 10.0, "month": 1 / 12, "mo": 1 / 12, "week": 1 / 52, "day": 1 / 365}
_NUM = r"(?P<num>\d+(?:\.\d+)?|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True)) + r")"
_UNIT = r"(?P<unit>years?|yrs?|decades?|months?|mos?|weeks?|days?)"
_DURATION = (_NUM + r"(?P<plus>\+)?(?P<half>\s+and\s+a\s+half)?[\s-]*" + _UNIT
             + r"(?P<half2>\s+and\s+a\s+half)?(?!\s*(?:-\s*)?(?:old|apart|older|younger|of age|ago)\b)")
_HEDGE = r"(?:(?:over|almost|nearly|about|around|just|only|more than|less than|roughly|for)\s+)*"
_TOGETHER = (r"(?:married|together|dating|dated|engaged|friends|best friends|bffs?|besties|roommates|exes|partners|"
             r"in a relationship|(?:have |'ve |had )?known each other|(?:have |'ve )?been (?:married|together|dating|"
             r"friends|best friends|engaged|a couple)|knowing each other|know each other)")
_BOND = (r"(?:of marriage|married|together|of friendship|friendship|of dating|dating|relationship|"
         r"in a relationship|as friends|as a couple|of knowing each other|knowing each other|marriage|"
         r"engagement|of being together)")
# Each: (pattern, how to read it). Relationship word then duration; duration then bond; "met ... ago".
_LENGTH_PATTERNS = [
    re.compile(rf"\b{_TOGETHER}\s+{_HEDGE}{_DURATION}", re.IGNORECASE),
    re.compile(rf"\b{_HEDGE}{_DURATION}\s+(?:of\s+)?{_BOND}\b", re.IGNORECASE),
    re.compile(rf"\b(?:met|first met|first date was|started dating)\s+{_HEDGE}{_NUM}(?P<plus>\+)?(?P<half>\s+and\s+a\s+half)?[\s-]*{_UNIT}"
               rf"(?P<half2>\s+and\s+a\s+half)?\s+ago\b", re.IGNORECASE),
]
_SINCE_YEAR = re.compile(rf"\b(?:{_TOGETHER}|met(?: in)?)\s+(?:since|in)\s+(?P<year>(?:19|20)\d\d)\b", re.IGNORECASE)
_SINCE_CHILDHOOD = re.compile(
    rf"\b(?:{_TOGETHER}|met|sweethearts)\s+(?:since|in|back in|at)\s+(?:high school|middle school|college|"
    r"university|childhood|kindergarten|preschool|elementary school|grade school|primary school|"
    r"we were (?:kids|children|babies|little|teenagers)|birth|(?:first|second|third|fourth|fifth|sixth|\d+(?:st|nd|rd"
    r"|th)) grade)\b|\b(?:childhood|lifelong|life-long) (?:friends|best friends|sweethearts)\b|"
    r"\bhigh school sweethearts\b|\b(?:whole|entire) lives\b", re.IGNORECASE)
LIFELONG_YEARS = 10.0  # "friends since childhood": at least this many years
_JUST_MET = re.compile(r"\b(?:first date|blind date|just met|met today|never met|met for the first time|"
                       r"first time meeting|meeting for the first time|complete strangers|strangers|"
                       r"met (?:this|last) (?:week|month))\b", re.IGNORECASE)
FAMILIAR = "More than 3 years"
UNFAMILIAR = "Less than 1 year"


@dataclass(frozen=True)
class Reading:
    relation: str | None
    years: float | None
    relation_text: str | None  # the words that gave it, for the item's evidence
    length_text: str | None


def _normal_line(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip().lower())


def boilerplate_lines(descriptions: Iterable[str], min_videos: int = 3, min_share: float = 0.2) -> frozenset[str]:
    """Lines a channel repeats under many of its videos (at least `min_videos` and `min_share` of them)."""
    counts: Counter = Counter()
    total = 0
    for text in descriptions:
        total += 1
        counts.update({_normal_line(line) for line in text.splitlines() if _normal_line(line)})
    need = max(min_videos, min_share * total)
    return frozenset(line for line, n in counts.items() if n >= need)


def _meaningful(text: str, boilerplate: frozenset[str]) -> str:
    return "\n".join(line for line in text.splitlines() if _normal_line(line) not in boilerplate)


def _relation(text: str) -> tuple[str | None, str | None]:
    low = _NOT_RELATION.sub(" ", text.lower())
    for name in _ORDER:
        for phrase in sorted(RELATIONS[name], key=len, reverse=True):
            if re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
                return name, phrase
    return None, None


def _years(m: re.Match) -> float:
    raw = m.group("num").lower()
    number = float(NUMBER_WORDS.get(raw, raw) if raw in NUMBER_WORDS else raw)
    if m.group("half") or m.group("half2"):
        number += 0.5
    unit = m.group("unit").lower().rstrip("s")
    return round(number * UNIT_YEARS[unit], 4)


def _lengths(text: str, as_of: int | None) -> Iterable[tuple[float, str]]:
    for pattern in _LENGTH_PATTERNS:
        for m in pattern.finditer(text):
            yield _years(m), m.group(0).strip()
    if as_of is not None:
        for m in _SINCE_YEAR.finditer(text):
            year = int(m.group("year"))
            if year <= as_of:
                yield float(as_of - year), m.group(0)
    for m in _SINCE_CHILDHOOD.finditer(text):
        yield LIFELONG_YEARS, m.group(0)
    for m in _JUST_MET.finditer(text):
        yield 0.0, m.group(0)


def read_relation(texts: list[str], as_of: int | None = None,
                  boilerplate: frozenset[str] = frozenset()) -> Reading:
    """The first relation found, searching the texts in the order given, and the longest length of acquaintance any
    of them states. `as_of`: the upload year, for "together since 2015"; `boilerplate`: lines to ignore."""
    relation = relation_text = None
    best: tuple[float, str] | None = None
    for text in texts:
        text = _NOT_A_BOND.sub(" ", _meaningful(text, boilerplate))
        if relation is None:
            relation, relation_text = _relation(text)
        for found in _lengths(text, as_of):
            if best is None or found[0] > best[0]:
                best = found
    return Reading(relation, best[0] if best else None, relation_text, best[1] if best else None)


def familiarity(years: float | None) -> str | None:
    if years is None:
        return None
    if years > 3:
        return FAMILIAR
    if years < 1:
        return UNFAMILIAR
    return None
