"""The learned blind answerer of the bias audit: a classifier that sees only the question and the options.

Each option is a row: its length, its length rank and distance from the item's mean length, its place (letter), the
words it shares with the question, how often its text was correct and how often it was shown in the training folds
(an answer prior learnt, not given), and its words (TF-IDF). A logistic regression scores the rows; an item's answer
is its best-scored option. It is trained on the task's released train split and scored on eval, as anyone could;
with too little train, by grouped cross-validation over eval (items of one source video, conversation or person
are never both trained on and tested). It finds the leaks the hand-written answerers do not think of.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np
from scipy import sparse

from humansense.schema import Item, normalise_text

MIN_ITEMS = 40  # fewer items than this: no cross-validation (reported as not run)
FOLDS = 5


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _dense_features(item: Item, answered: Counter, shown: Counter) -> np.ndarray:
    lengths = np.array([len(o.text) for o in item.options], dtype=float)
    order = lengths.argsort().argsort()
    k = max(len(lengths) - 1, 1)
    spread = lengths.std() or 1.0
    distance = np.abs(lengths - lengths.mean())
    question = _words(item.question)
    rows = []
    for j, option in enumerate(item.options):
        words = _words(option.text)
        key = normalise_text(option.text)
        rows.append([lengths[j] / 100, order[j] / k, (lengths[j] - lengths.mean()) / spread,
                     distance.argsort().argsort()[j] / k, j / k, j == 0, j == len(lengths) - 1,
                     len(question & words) / (len(words) or 1),
                     (answered[key] + 1) / (shown[key] + len(lengths)), np.log1p(shown[key])])
    return np.array(rows, dtype=float)


class TextOnlyModel:
    """The classifier fitted on `train`; `hits(test)` answers test items (in any number of batches: each option row
    is scored on its own, so batches give the same answers as one call)."""

    def __init__(self, train: list[Item], correct: Callable[[Item], set[int]], seed: int):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.correct = correct
        self.answered, self.shown = Counter(), Counter()
        for item in train:
            right = correct(item)
            for j, o in enumerate(item.options):
                self.shown[normalise_text(o.text)] += 1
                self.answered[normalise_text(o.text)] += j in right
        self.tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        try:
            self.tfidf.fit([o.text for i in train for o in i.options])
        except ValueError:  # no word occurs twice: the dense features alone
            self.tfidf = None
        y = np.array([j in correct(i) for i in train for j in range(len(i.options))])
        self.model = None if y.all() or not y.any() else LogisticRegression(
            C=1.0, max_iter=1000, random_state=seed).fit(self._rows(train, own_counts=True), y)

    def _rows(self, batch: list[Item], own_counts: bool) -> sparse.csr_matrix:
        dense = []
        for item in batch:
            a, s = self.answered, self.shown
            if own_counts:  # a training item's own answer must not feed its own prior feature
                a, s = self.answered.copy(), self.shown.copy()
                right = self.correct(item)
                for j, o in enumerate(item.options):
                    s[normalise_text(o.text)] -= 1
                    a[normalise_text(o.text)] -= j in right
            dense.append(_dense_features(item, a, s))
        x = sparse.csr_matrix(np.vstack(dense))
        return x if self.tfidf is None else sparse.hstack(
            [x, self.tfidf.transform([o.text for i in batch for o in i.options])]).tocsr()

    def hits(self, test: list[Item]) -> int:
        """How many test items the best-scored option answers (none when train had one class only)."""
        if self.model is None or not test:
            return 0
        scores = self.model.decision_function(self._rows(test, own_counts=False))
        hits, at = 0, 0
        for item in test:
            n = len(item.options)
            hits += int(np.argmax(scores[at:at + n])) in self.correct(item)
            at += n
        return hits


def learned_hits(items: list[Item], correct: Callable[[Item], set[int]], seed: int = 0,
                 train: list[Item] | None = None) -> int | None:
    """Items of `items` the classifier answers correctly: trained on `train` (the released train split) when it has
    enough items, else by grouped cross-validation over `items`; None when there is too little to learn from."""
    from sklearn.model_selection import GroupKFold

    if train and len(train) >= MIN_ITEMS:
        return TextOnlyModel(train, correct, seed).hits(items)
    groups = [i.provenance.group_key for i in items]
    if len(items) < MIN_ITEMS or len(set(groups)) < FOLDS:
        return None
    hits = 0
    for train_idx, test_idx in GroupKFold(n_splits=FOLDS).split(items, groups=groups):
        hits += TextOnlyModel([items[k] for k in train_idx], correct, seed).hits([items[k] for k in test_idx])
    return hits
