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


def _fit_and_score(train: list[Item], test: list[Item], correct: Callable[[Item], set[int]], seed: int) -> int:
    """Fit on `train`, answer `test`: how many test items the best-scored option answers."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    answered, shown = Counter(), Counter()
    for item in train:
        right = correct(item)
        for j, o in enumerate(item.options):
            shown[normalise_text(o.text)] += 1
            answered[normalise_text(o.text)] += j in right
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    try:
        tfidf.fit([o.text for i in train for o in i.options])
    except ValueError:  # no word occurs twice: the dense features alone
        tfidf = None

    def rows(batch: list[Item], own_counts: bool) -> sparse.csr_matrix:
        dense = []
        for item in batch:
            a, s = answered, shown
            if own_counts:  # a training item's own answer must not feed its own prior feature
                a, s = answered.copy(), shown.copy()
                right = correct(item)
                for j, o in enumerate(item.options):
                    s[normalise_text(o.text)] -= 1
                    a[normalise_text(o.text)] -= j in right
            dense.append(_dense_features(item, a, s))
        x = sparse.csr_matrix(np.vstack(dense))
        return x if tfidf is None else sparse.hstack([x, tfidf.transform([o.text for i in batch for o in i.options])]
                                                     ).tocsr()

    y = np.array([j in correct(i) for i in train for j in range(len(i.options))])
    if y.all() or not y.any():
        return 0
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(rows(train, own_counts=True), y)
    scores = model.decision_function(rows(test, own_counts=False))
    hits, at = 0, 0
    for item in test:
        n = len(item.options)
        hits += int(np.argmax(scores[at:at + n])) in correct(item)
        at += n
    return hits


def learned_hits(items: list[Item], correct: Callable[[Item], set[int]], seed: int = 0,
                 train: list[Item] | None = None) -> int | None:
    """Items of `items` the classifier answers correctly: trained on `train` (the released train split) when it has
    enough items, else by grouped cross-validation over `items`; None when there is too little to learn from."""
    from sklearn.model_selection import GroupKFold

    if train and len(train) >= MIN_ITEMS:
        return _fit_and_score(train, items, correct, seed)
    groups = [i.provenance.group_key for i in items]
    if len(items) < MIN_ITEMS or len(set(groups)) < FOLDS:
        return None
    hits = 0
    for train_idx, test_idx in GroupKFold(n_splits=FOLDS).split(items, groups=groups):
        hits += _fit_and_score([items[k] for k in train_idx], [items[k] for k in test_idx], correct, seed)
    return hits
