"""Augmentation on generated item sets of thousands: balance, lengths, determinism, dedup, and the bias audit."""

from __future__ import annotations

import random
from collections import Counter
from statistics import median

import pytest

from humansense.augment.audit import BiasAuditError, audit, binomial_tail, check, write_audit
from humansense.augment.build import augment_drafts
from humansense.augment.options import length_ok, paraphrases, pick_wrong_options, OptionError
from humansense.augment.templates import load_templates, parse_templates
from humansense.config import AugmentConfig
from humansense.schema import LETTERS, ClipSpec, Item, ItemDraft, Media, Option, Provenance
from humansense.sources.celebvhq import appearance_text
from humansense.sources.jester import NOT_GESTURES
from humansense.sample import annotation_root
from humansense.tasks import TASKS

CFG = AugmentConfig()
CLIP = ClipSpec(kind="span", source_path="/x.mp4", start_s=0, end_s=1)
GESTURES = [g for g in (annotation_root("jester") / "jester-v1-labels.csv").read_text().splitlines()
            if g and g not in NOT_GESTURES]
ATTRIBUTES = [appearance_text(a) for a in ["male", "young", "chubby", "pale_skin", "rosy_cheeks", "oval_face", "bald",
                                             "bangs", "black_hair", "blonde_hair", "gray_hair", "straight_hair",
                                             "wavy_hair", "long_hair", "arched_eyebrows", "big_nose", "big_lips",
                                             "eyeglasses", "wearing_hat", "wearing_earrings", "heavy_makeup"]]


def draft(task, i, answers, pool, hard=()):
    return ItemDraft(id=f"{task.lower()}-{i:05d}", task=task, answers=list(answers), distractors=list(pool),
                     hard_distractors=list(hard), clip=CLIP,
                     template_vars={v: f"value {i}" for v in load_templates()[task].vars},
                     provenance=Provenance(source="gen", record_id=str(i), original_file=f"v{i}.mp4"))


def media(task):
    return Media(path="videos/x.mp4", duration_s=1.0, modality=TASKS[task].modality)


EVENTS = ["a man waves", "she opens the door", "the dog runs across the yard", "he sits down", "they shake hands",
          "a woman picks up a large red umbrella", "the boy jumps", "someone claps", "two people hug for a while",
          "he ties his shoes", "she pours a cup of coffee", "the crowd cheers loudly", "a girl rides a bike",
          "he throws a ball", "she laughs", "the man kneels beside the car and checks a tyre", "they dance",
          "a waiter brings the plates", "he reads a letter", "she waves goodbye from the train window"]


def event_sequence(rng: random.Random) -> str:
    picked = rng.sample(EVENTS, rng.randint(2, 3))
    return ", then ".join(picked).capitalize() + "."


def generated(n_single=3000, n_multi=2000, n_numeral=600, seed=0, n_free=0):
    rng = random.Random(seed)
    pairs = []
    for i in range(n_free):  # free-text options (CM): the length rule applies
        answer = event_sequence(rng)
        pool = [t for t in dict.fromkeys(event_sequence(rng) for _ in range(300)) if t != answer]
        pairs.append((draft("CM", i, [answer], pool), media("CM"), f"m{i}"))
    for i in range(n_single):
        answer = rng.choice(GESTURES)
        pairs.append((draft("GR", i, [answer], [g for g in GESTURES if g != answer]), media("GR"), f"c{i}"))
    for i in range(n_multi):
        answers = rng.sample(ATTRIBUTES, rng.randint(1, 3))
        pairs.append((draft("PA", i, answers, [a for a in ATTRIBUTES if a not in answers]), media("PA"), f"p{i}"))
    for i in range(n_numeral):
        count = rng.randint(0, 9)
        pairs.append((draft("HC", i, [str(count)], [str(c) for c in range(10) if c != count]), media("HC"), f"h{i}"))
    return pairs


@pytest.fixture(scope="module")
def big():
    return augment_drafts(generated(n_free=3000), seed=11, cfg=CFG)


def test_correct_letters_are_balanced_exactly(big):
    items, quarantined = big
    assert not quarantined and len(items) == 8600
    for abbr in ("GR", "PA"):
        counts = Counter(letter for i in items if i.task == abbr for letter in i.answer)
        assert set(counts) == set("ABCD") and max(counts.values()) - min(counts.values()) <= 1, (abbr, counts)


def test_letters_survive_records_added_and_removed_through_the_ledger():
    """Between two builds 60 records leave and 112 arrive: every item present in both keeps its letters, options
    and QC content hash; the new items fill the least-used letters, so the balance stays within the stated bound."""
    from humansense.augment.build import letter_balance, options_key, positions_of, wrong_texts
    from humansense.qc.store import content_hash

    pairs = generated(1500, 1000, 300, seed=3)
    first, _ = augment_drafts(pairs, seed=11, cfg=CFG)
    assert set(letter_balance(first).values()) <= {0, 1}  # a fresh build: within one
    ledger = {i.id: positions_of(i) for i in first}
    options = {options_key(i.id, i.answer_texts()): wrong_texts(i) for i in first}
    rng = random.Random(4)
    removed = set(rng.sample(range(len(pairs)), 60))
    added = generated(1560, 1040, 312, seed=99)
    added = [p for p in added if int(p[0].id.split("-")[1]) >= {"GR": 1500, "PA": 1000, "HC": 300}[p[0].task]]
    second, _ = augment_drafts([p for k, p in enumerate(pairs) if k not in removed] + added, seed=11, cfg=CFG,
                               pinned=ledger, kept_options=options)
    before = {i.id: i for i in first}
    common = [i for i in second if i.id in before]
    assert len(common) == len(first) - 60 and len(second) == len(first) - 60 + len(added) == 2852
    assert all(content_hash(i) == content_hash(before[i.id]) and i.answer == before[i.id].answer for i in common)
    assert max(letter_balance(second).values()) <= 2  # the bound after changes; reported in build_report.json
    unpinned, _ = augment_drafts([p for k, p in enumerate(pairs) if k not in removed] + added, seed=11, cfg=CFG)
    moved = sum(i.answer != before[i.id].answer for i in unpinned if i.id in before)
    assert moved > 100  # without the ledger, rebalancing moves the letters of many untouched items


def test_wrong_options_are_within_the_length_rule(big):
    items, _ = big
    assert sum(i.task == "CM" for i in items) == 3000
    for item in items:
        if item.task != "CM":  # labels are balanced by exposure instead (below)
            continue
        target = median(len(t) for t in item.answer_texts())
        wrong = [o.text for o in item.options if o.letter not in item.answer]
        assert all(length_ok(w, target, CFG) for w in wrong), item


def test_same_seed_same_bytes_and_another_seed_another_order():
    pairs = generated(800, 400, 100)
    a = augment_drafts(pairs, seed=5, cfg=CFG)[0]
    b = augment_drafts(list(reversed(pairs)), seed=5, cfg=CFG)[0]
    assert [i.model_dump_json() for i in a] == [i.model_dump_json() for i in b]
    c = augment_drafts(pairs, seed=6, cfg=CFG)[0]
    assert [i.id for i in a] == [i.id for i in c]  # ids do not depend on the seed...
    assert sum(x.options != y.options for x, y in zip(a, c)) > 600  # ...option orders do


def test_numeral_candidates_hold_the_truth_at_a_balanced_place_with_no_value_prior(big):
    """Counts are four distinct candidates; the truth's place is balanced like a letter, and it is not the middle,
    smallest or largest value more often than chance (neighbours are not preferred)."""
    items, _ = big
    hc = [i for i in items if i.task == "HC"]
    places = Counter()
    middle = smallest = 0
    for item in hc:
        counts = [int(o.text) for o in item.options]
        assert len(set(counts)) == 4 and all(0 <= c <= 9 for c in counts) and item.answer in map(str, counts)
        places[[o.text for o in item.options].index(item.answer)] += 1
        ranked = sorted(counts)
        middle += int(item.answer) in ranked[1:3]
        smallest += int(item.answer) == ranked[0]
    assert max(places.values()) - min(places.values()) <= 1
    assert abs(middle / len(hc) - 0.5) < 0.08 and abs(smallest / len(hc) - 0.25) < 0.06


def test_answer_length_rank_is_spread_evenly(big):
    """Per task, the answer is the shortest, the longest and each middle rank about equally often."""
    from humansense.augment.build import length_rank_spread

    items, _ = big
    spread = length_rank_spread(items)["CM"]
    ranks = spread["by_rank"]
    n = sum(ranks)
    assert n + spread["equal_length"] == 3000 and n > 1500
    assert all(abs(c / n - 0.25) < 0.05 for c in ranks), spread


def test_common_classes_are_drawn_as_wrong_options_by_how_often_they_are_answers(monkeypatch):
    """With answers skewed like AVA's (one class 36% of the answers), 'pick the option most often correct in the
    task' scores 66% when wrong options are drawn uniformly from the vocabulary, and under 50% when they are drawn by
    answer frequency (36% is the floor: a class that is the answer that often wins whenever it is shown). The rest
    is the selection's work: classes evened out in eval (`selection/select.py`)."""
    import humansense.augment.build as build

    rng = random.Random(2)
    weights = [1 / (k + 1) ** 1.3 for k in range(len(GESTURES))]
    pairs = []
    for i in range(3000):
        answer = rng.choices(GESTURES, weights)[0]
        pairs.append((draft("GR", i, [answer], [g for g in GESTURES if g != answer]), media("GR"), f"c{i}"))
    freq = Counter(p[0].answers[0] for p in pairs)

    def prior_answerer_accuracy():
        items, _ = augment_drafts(pairs, seed=1, cfg=CFG)
        return sum(max(i.options, key=lambda o: freq[o.text]).letter == i.answer for i in items) / len(items)

    weighted = prior_answerer_accuracy()
    monkeypatch.setattr(build, "count_answers", lambda counts, draft, split: None)
    uniform = prior_answerer_accuracy()
    assert uniform > 0.6 and weighted < 0.5 and max(freq.values()) / 3000 > 0.35


LABELS = {  # per label task: a vocabulary like the source's (answers evened out, as selection does for eval)
    "ER": ["Happy", "Sad", "Surprise", "Anger", "Fear", "Disgust", "Neutral", "Contempt"],
    "AC": ["Nothing abnormal", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting", "Road accident",
           "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism", "Abuse"],
    "TR": ["The person on the left", "The person on the right"],
    "FR": ["More than 3 years", "Less than 1 year"],
    "RR": ["Harmonious", "With challenges"],
    "RG": ["Married", "Engaged", "Dating", "Exes", "Friends", "Siblings", "Cousins", "Parent and child"],
    "LD": ["Telling the truth", "Lying"],
    "FG": ["Not a fraud: an ordinary call", "Impersonating the police", "Fake loan offer", "Fake customer service",
           "Impersonating a boss", "Investment scam"],
    "ES": ["Smiles warmly", "Nods with concern", "Looks surprised", "Frowns", "Stays neutral", "Looks sad"],
}


def every_task(n: int = 1000, seed: int = 4) -> list:
    """At least `n` items for each of the 15 tasks: labels, label sets, counts and free text."""
    rng = random.Random(seed)
    pairs = generated(n, n, n, seed=seed, n_free=n)  # GR, PA, HC, CM
    for i in range(n):
        answers = sorted({rng.choice(ATTRIBUTES[:8])} | set(rng.sample(ATTRIBUTES[8:], rng.randint(0, 1))))
        pairs.append((draft("AR", i, answers, [a for a in ATTRIBUTES if a not in answers]), media("AR"), f"a{i}"))
        reply = event_sequence(rng).replace(", then", " and")
        pool = [event_sequence(rng).replace(", then", " and") for _ in range(200)]
        pairs.append((draft("PC", i, [reply], [p for p in dict.fromkeys(pool) if p != reply]), media("PC"), f"r{i}"))
        for abbr, vocabulary in LABELS.items():
            answer = vocabulary[i % len(vocabulary)]
            pairs.append((draft(abbr, i, [answer], [v for v in vocabulary if v != answer]), media(abbr),
                          f"{abbr}{i}"))
    return pairs


def test_every_blind_answerer_is_within_tolerance_on_every_task_at_a_thousand_items():
    items, refused = augment_drafts(every_task(), seed=21, cfg=CFG)
    counts = Counter(i.task for i in items)
    assert set(counts) == set(TASKS) and min(counts.values()) >= 990, counts
    table = audit(items, CFG)
    assert set(table["task"]) == set(TASKS)
    assert "learned text-only classifier" in set(table["answerer"])
    assert not table["flagged"].any(), table[table["flagged"]]


def test_a_balanced_build_passes_the_audit(big, tmp_path):
    items, _ = big
    table = audit(items, CFG)
    assert not table["flagged"].any(), table[table["flagged"]]
    assert check(table, CFG) == []
    csv, png = write_audit(table, tmp_path)
    assert csv.read_text().startswith("task,answerer,items,accuracy,chance")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_an_answer_always_longest_fails_the_audit_with_the_task_named():
    items = []
    for i in range(400):
        texts = [f"opt {i} " + "x" * k for k in (3, 5, 7, 20)]
        random.Random(i).shuffle(texts)
        letter = LETTERS[texts.index(max(texts, key=len))]
        items.append(Item(id=f"ac-{i}", task="AC", level="L2", modality="video", kind="single",
                          question_pattern="Multiple-choice question (select one answer choice)", question="What?",
                          options=[Option(letter=LETTERS[k], text=t) for k, t in enumerate(texts)], answer=letter,
                          media=media("AC"), provenance=Provenance(source="g", record_id=str(i), original_file="f"),
                          template_id="ac-1"))
    table = audit(items, CFG)
    flagged = table[table["flagged"]]
    assert list(flagged["answerer"]) == ["longest option", "learned text-only classifier"]
    assert set(flagged["task"]) == {"AC"}
    with pytest.raises(BiasAuditError, match=r"AC: 'longest option' answers 100.0% of 400 items .*chance 25.0%"):
        check(table, CFG)
    assert len(check(table, CFG.model_copy(update={"allow_biased": True}))) == 2


def ac_item(i: int, texts: list[str], answer_index: int, group: str | None = None) -> Item:
    return Item(id=f"ac-{i}", task="AC", level="L2", modality="video", kind="single",
                question_pattern="Multiple-choice question (select one answer choice)", question="What happens?",
                options=[Option(letter=LETTERS[k], text=t) for k, t in enumerate(texts)], answer=LETTERS[answer_index],
                media=media("AC"), template_id="ac-1",
                provenance=Provenance(source="g", record_id=str(i), group=group, original_file="f"))


def test_the_learned_answerer_finds_a_leak_no_rule_looks_for():
    """The answer is phrased 'slowly', the wrong options 'calmly' (same length, unique texts, letters balanced):
    no hand-written answerer sees it, the cross-validated classifier does; without the tell it stays at chance."""
    rng = random.Random(5)
    leaky, clean = [], []
    for i in range(400):
        verbs = rng.sample(["walks", "talks", "waves", "jumps", "turns", "kneels", "sits", "runs"], 4)
        pos = i % 4
        texts = [f"person {i} {v} {'slowly' if k == pos else 'calmly'}" for k, v in enumerate(verbs)]
        leaky.append(ac_item(i, texts, pos, group=f"g{i // 3}"))
        texts = [f"person {i} {v} {rng.choice(['slowly', 'calmly'])}" for v in verbs]
        clean.append(ac_item(i, texts, pos, group=f"g{i // 3}"))
    table = audit(leaky, CFG).set_index("answerer")
    assert table.loc["learned text-only classifier", "accuracy"] > 0.9
    assert list(table.index[table["flagged"]]) == ["learned text-only classifier"]
    table = audit(clean, CFG).set_index("answerer")
    assert not table["flagged"].any() and table.loc["learned text-only classifier", "accuracy"] < 0.35


def test_small_samples_do_not_fail_by_luck():
    assert binomial_tail(3, 3, 0.25) > 0.01  # three of three right by chance is not evidence
    assert binomial_tail(60, 100, 0.25) < 1e-6
    assert binomial_tail(0, 10, 0.25) == 1.0


def test_duplicates_are_dropped_with_a_note():
    a = draft("GR", 1, ["Thumb Up"], GESTURES[:10])
    b = draft("GR", 2, ["Thumb Up"], GESTURES[:10])
    items, quarantined = augment_drafts([(a, media("GR"), "same-clip"), (b, media("GR"), "same-clip")], 1, CFG)
    assert [i.id for i in items] == ["gr-00001"]
    assert [(q.reason, q.record_id) for q in quarantined] == [("duplicate item", "2")]
    assert "gr-00001" in quarantined[0].detail


def test_paraphrases_of_the_answer_are_never_wrong_options():
    answer = "The man waves at the camera."
    assert paraphrases("the man waves at camera", answer, 0.8)
    assert not paraphrases("The man walks away from the camera.", answer, 0.8)
    d = draft("CM", 1, [answer], ["The man waves at the camera now.", "The man waves at camera", "A dog runs in a park.",
                                   "A woman sings on a stage.", "Two kids play with a ball."])
    wrong = pick_wrong_options(d, 3, 1, CFG)
    assert sorted(wrong) == ["A dog runs in a park.", "A woman sings on a stage.", "Two kids play with a ball."]


def test_unfixable_lengths_are_refused_not_published():
    """Free text (CM) keeps the length rule: a pool that cannot fill the options within it refuses the item."""
    d = draft("CM", 1, ["He waves, then she sits."], [
        "A woman picks up a large red umbrella, then the man kneels beside the car and checks a tyre.",
        "She waves goodbye from the train window, then two people hug for a while.",
        "The crowd cheers loudly, then a waiter brings the plates, then he reads a letter.", "He sits."])
    with pytest.raises(OptionError, match="within the length rule") as e:
        pick_wrong_options(d, 3, 1, CFG)
    assert e.value.reason == "option lengths unbalanced"
    items, quarantined = augment_drafts([(d, media("CM"), "c")], 1, CFG)
    assert not items and quarantined[0].reason == "option lengths unbalanced"


def test_labels_of_any_length_are_options_and_each_is_right_a_quarter_of_the_times_shown():
    """Labels carry no length rule (a label's length is its identity); balanced answers and answer-weighted draws
    make each label right about 1/4 of the times it is shown, so the longest label is no tell."""
    d = draft("GR", 1, ["Thumb Up"], ["Turning Hand Counterclockwise", "Sliding Two Fingers Right",
                                      "Zooming Out With Two Fingers", "Swiping Left"])
    assert len(pick_wrong_options(d, 3, 1, CFG)) == 3
    rng = random.Random(8)
    pairs = []
    for i in range(4000):
        answer = GESTURES[i % len(GESTURES)]  # eval's classes are evened out by selection
        pairs.append((draft("GR", i, [answer], [g for g in GESTURES if g != answer]), media("GR"), f"c{i}"))
    rng.shuffle(pairs)
    items, _ = augment_drafts(pairs, seed=3, cfg=CFG)
    shown, right = Counter(), Counter()
    for item in items:
        for o in item.options:
            shown[o.text] += 1
            right[o.text] += o.letter == item.answer
    longest = max(GESTURES, key=len)
    assert all(0.2 < right[g] / shown[g] < 0.3 for g in GESTURES), {g: right[g] / shown[g] for g in GESTURES}
    assert 0.2 < right[longest] / shown[longest] < 0.3


def test_every_task_has_five_valid_templates():
    templates = load_templates()
    assert set(templates) == set(TASKS)
    for abbr, t in templates.items():
        assert len(t.templates) >= 5
        values = {v: "x" for v in t.vars}
        assert all(t.render(tid, values) for tid in t.templates)


def test_a_template_that_presupposes_the_event_is_refused_where_nothing_may_have_happened():
    body = "  vars: []\n  templates: {a: 'What kind of scam is the caller attempting?', b: x, c: x, d: x, e: x}\n"
    with pytest.raises(ValueError, match="FG template a presupposes the event .* 'Not a fraud"):
        parse_templates("FG:\n" + body)
    assert parse_templates("GR:\n" + body)  # a task without a "nothing happened" answer may ask so


def test_templates_with_unknown_placeholders_or_too_few_are_refused():
    with pytest.raises(ValueError, match="unknown placeholders"):
        parse_templates("GR:\n  vars: []\n  templates: {a: 'Which {gesture}?', b: x, c: x, d: x, e: x}\n")
    with pytest.raises(ValueError, match="at least 5"):
        parse_templates("GR:\n  templates: {a: 'Which gesture?'}\n")
    with pytest.raises(ValueError, match="unknown tasks"):
        parse_templates("XX:\n  templates: {a: b}\n")


def test_reordered_events_stay_valid_hard_distractors():
    answer = "A man ties his shoes, then he jogs by a river."
    d = draft("CM", 1, [answer], ["A dog runs in a park, then it sleeps a lot.", "A woman sings a song, then she bows very low."],
              hard=["He jogs by a river, then a man ties his shoes."])
    assert "He jogs by a river, then a man ties his shoes." in pick_wrong_options(d, 3, 1, CFG)


def test_a_text_only_llm_answerer_joins_the_audit(big):
    items, _ = big
    calls = []

    def always_a(question, options, kind):
        calls.append(kind)
        return "A"

    table = audit(items, CFG, always_a).set_index(["task", "answerer"])
    assert table.loc[("GR", "text-only LLM"), "accuracy"] == table.loc[("GR", "always A"), "accuracy"]
    assert ("HC", "text-only LLM") not in table.index and "numeral" not in calls


def test_eval_never_takes_a_wrong_option_from_a_record_released_in_train():
    """CM's pool holds every video's events: in eval, a wrong option that is a train item's answer would be known to
    be wrong by anyone reading train, so eval draws only from records not in train."""
    from humansense.selection.select import Selection
    from humansense.sources.pools import Pools

    rng = random.Random(1)
    texts = {str(i): event_sequence(rng) + f" ({i})" for i in range(600)}
    pools = Pools({"gen/events-3": [(rid, t) for rid, t in texts.items()]})
    pairs = []
    for rid, answer in texts.items():
        d = draft("CM", int(rid), [answer], []).model_copy(update={"distractor_pool": "gen/events-3"})
        pairs.append((d, media("CM"), f"m{rid}"))
    split = {d.id: "eval" if int(d.provenance.record_id) % 3 == 0 else "train" for d, _, _ in pairs}
    selection = Selection(split=split, rank={i: k for k, i in enumerate(split) if split[i] == "eval"},
                          targets={"CM": 200})
    items, _ = augment_drafts(pairs, seed=2, cfg=CFG, pools=pools, selection=selection)
    train_answers = {i.answer_texts()[0] for i in items if i.split == "train"}
    eval_items = [i for i in items if i.split == "eval"]
    assert len(eval_items) == 200 and train_answers
    assert not any(o.text in train_answers for i in eval_items for o in i.options)
    assert any(o.text in {t for r, t in texts.items() if int(r) % 3 == 0} for i in items if i.split == "train"
               for o in i.options if o.letter != i.answer)  # train may use eval's texts (no answer revealed)
