"""Metrics: every number checked against scikit-learn on random cases and against a hand computation."""

from __future__ import annotations

import json
import warnings
from fractions import Fraction as F

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    recall_score,
)

from xmer.evaluation.metrics import (
    compute_metrics,
    multi_label_metrics,
    single_label_metrics,
    weighted_accuracy,
)

# sklearn warns when a class is predicted but absent from y_true: the very case these tests pin down.
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")

REQUIRED_TOP = {"accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "wa", "per_class",
                "confusion_matrix", "definitions", "n", "labels", "multi_label"}
REQUIRED_PER_CLASS = {"precision", "recall", "f1", "support", "wa", "accuracy", "confusion"}


def approx(x):
    return pytest.approx(float(x), abs=1e-12)


def binary_wa(t, p) -> float:
    """sklearn's balanced accuracy of one binary decision (its nan class dropped, as our P=0 / N=0 rule)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return balanced_accuracy_score(t, p)


def check_common(m: dict) -> None:
    assert REQUIRED_TOP <= set(m)
    for name in m["labels"]:
        assert REQUIRED_PER_CLASS <= set(m["per_class"][name])
    # Every top-level number (and list) is defined.
    for key, value in m.items():
        if key not in ("definitions", "per_class", "labels", "multi_label"):
            assert key in m["definitions"], key
    assert json.loads(json.dumps(m, allow_nan=False)) == m  # plain JSON types only


# --------------------------------------------------------------------------------------------
# Tong WA
# --------------------------------------------------------------------------------------------


def test_weighted_accuracy_by_hand():
    # TP=3, FN=1 -> P=4; TN=4, FP=2 -> N=6.  WA = (3*6/4 + 4) / (2*6) = (4.5 + 4) / 12 = 17/24,
    # which is also the mean of the recalls: (3/4 + 4/6) / 2 = (9/12 + 8/12) / 2 = 17/24.
    assert weighted_accuracy(3, 4, 4, 6) == approx(F(17, 24))
    truth, decision = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    assert weighted_accuracy(3, 4, 4, 6) == approx(binary_wa(truth, decision))
    # Degenerate sides: only negatives -> TN/N; only positives -> TP/P.
    assert weighted_accuracy(0, 4, 0, 6) == approx(F(4, 6))
    assert weighted_accuracy(3, 0, 4, 0) == approx(F(3, 4))
    assert weighted_accuracy(0, 4, 0, 6) == approx(binary_wa([0] * 6, [0, 0, 0, 0, 1, 1]))


@pytest.mark.parametrize("args", [(0, 0, 0, 0), (5, 0, 4, 2), (1, 3, 2, 2), (-1, 0, 1, 1)])
def test_weighted_accuracy_rejects(args):
    with pytest.raises(ValueError):
        weighted_accuracy(*args)


# --------------------------------------------------------------------------------------------
# Single-label
# --------------------------------------------------------------------------------------------


def scores_for(pred, k):
    """Scores whose argmax is pred: (N, K)."""
    s = np.full((len(pred), k), 0.1)
    s[np.arange(len(pred)), pred] = 0.8
    return s


def test_single_label_by_hand():
    # Confusion (rows true a, b, c; columns predicted):  a: [2, 1, 0]   b: [0, 1, 1]   c: [0, 0, 1]
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = compute_metrics(y_true, scores_for(y_pred, 4), ["a", "b", "c", "d"], multi_label=False)
    check_common(m)
    assert m["n"] == 6 and m["multi_label"] is False
    assert m["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    pc = m["per_class"]
    # a: TP=2 FP=0 FN=1 TN=3; P=3 N=3: WA = (2*3/3 + 3) / 6 = 5/6
    assert pc["a"]["precision"] == approx(1) and pc["a"]["recall"] == approx(F(2, 3))
    assert pc["a"]["f1"] == approx(F(4, 5)) and pc["a"]["wa"] == approx(F(5, 6))
    assert pc["a"]["accuracy"] == approx(F(5, 6)) and pc["a"]["support"] == 3
    assert pc["a"]["confusion"] == [[3, 0], [1, 2]]
    # b: TP=1 FP=1 FN=1 TN=3; P=2 N=4: WA = (1*4/2 + 3) / 8 = 5/8
    assert pc["b"]["precision"] == approx(F(1, 2)) and pc["b"]["recall"] == approx(F(1, 2))
    assert pc["b"]["f1"] == approx(F(1, 2)) and pc["b"]["wa"] == approx(F(5, 8))
    # c: TP=1 FP=1 FN=0 TN=4; P=1 N=5: WA = (1*5/1 + 4) / 10 = 9/10
    assert pc["c"]["precision"] == approx(F(1, 2)) and pc["c"]["recall"] == approx(1)
    assert pc["c"]["f1"] == approx(F(2, 3)) and pc["c"]["wa"] == approx(F(9, 10))
    # d: absent and never predicted: zero_division=0 everywhere, WA = TN/N = 1, left out of averages.
    assert pc["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "wa": 1.0,
                       "accuracy": 1.0, "confusion": [[6, 0], [0, 0]]}
    assert m["averaged_over"] == ["a", "b", "c"]
    assert m["accuracy"] == approx(F(4, 6))
    assert m["unweighted_accuracy"] == approx((F(2, 3) + F(1, 2) + 1) / 3)  # 13/18
    assert m["macro_f1"] == approx((F(4, 5) + F(1, 2) + F(2, 3)) / 3)  # 59/90
    assert m["weighted_f1"] == approx((3 * F(4, 5) + 2 * F(1, 2) + 1 * F(2, 3)) / 6)  # 61/90
    assert m["wa"] == approx((F(5, 6) + F(5, 8) + F(9, 10)) / 3)  # 283/360


def test_argmax_tie_goes_to_first_class():
    m = compute_metrics([1], [[0.5, 0.5]], ["x", "y"], multi_label=False)
    assert m["confusion_matrix"] == [[0, 0], [1, 0]]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", range(2, 8))
def test_single_label_matches_sklearn(seed, k):
    rng = np.random.default_rng(100 * seed + k)
    n = int(rng.integers(20, 60))
    # Seeds 1 and 3 leave the last class out of y_true (it can still be predicted).
    absent = seed % 2 == 1 and k > 2
    y = rng.integers(0, k - 1 if absent else k, n)
    scores = rng.random((n, k))
    scores[np.arange(n), y] += rng.random(n) * 0.8  # better than chance, not perfect
    labels = [f"class{i}" for i in range(k)]
    m = compute_metrics(y, scores, labels, multi_label=False)
    check_common(m)
    p = scores.argmax(axis=1)
    present = sorted(set(y.tolist()))
    everything = list(range(k))

    assert m["accuracy"] == approx(accuracy_score(y, p))
    assert m["unweighted_accuracy"] == approx(balanced_accuracy_score(y, p))
    ua = recall_score(y, p, labels=present, average="macro", zero_division=0)
    assert m["unweighted_accuracy"] == approx(ua)
    assert m["macro_f1"] == approx(f1_score(y, p, labels=present, average="macro", zero_division=0))
    assert m["weighted_f1"] == approx(f1_score(y, p, labels=everything, average="weighted", zero_division=0))
    assert m["weighted_f1"] == approx(f1_score(y, p, average="weighted", zero_division=0))
    if not absent:
        assert m["macro_f1"] == approx(f1_score(y, p, average="macro", zero_division=0))
    assert m["confusion_matrix"] == confusion_matrix(y, p, labels=everything).tolist()
    assert m["averaged_over"] == [labels[i] for i in present]

    prec, rec, f1, sup = precision_recall_fscore_support(y, p, labels=everything, zero_division=0)
    mcm = multilabel_confusion_matrix(y, p, labels=everything)
    for i, name in enumerate(labels):
        c = m["per_class"][name]
        assert c["precision"] == approx(prec[i]) and c["recall"] == approx(rec[i])
        assert c["f1"] == approx(f1[i]) and c["support"] == int(sup[i])
        assert c["wa"] == approx(binary_wa(y == i, p == i))
        assert c["accuracy"] == approx(accuracy_score(y == i, p == i))
        assert c["confusion"] == mcm[i].tolist()
    assert m["wa"] == approx(np.mean([binary_wa(y == i, p == i) for i in present]))


# --------------------------------------------------------------------------------------------
# Multi-label
# --------------------------------------------------------------------------------------------


def test_multi_label_by_hand():
    y = [[1, 0], [1, 1], [0, 0], [0, 1], [1, 0]]
    s = [[0.9, 0.1], [0.2, 0.7], [0.6, 0.3], [0.4, 0.5], [0.8, 0.0]]  # 0.5 is not > 0.5
    # predicted:  [1,0] [0,1] [1,0] [0,0] [1,0]
    m = compute_metrics(y, s, ["joy", "sad"], multi_label=True)
    check_common(m)
    assert m["multi_label"] is True and m["n"] == 5 and m["threshold"] == 0.5
    joy, sad = m["per_class"]["joy"], m["per_class"]["sad"]
    # joy: TP=2 FN=1 FP=1 TN=1; P=3 N=2: WA = (2*2/3 + 1) / 4 = 7/12; negative-class F1 = 2/(2+1+1)
    assert joy["confusion"] == [[1, 1], [1, 2]] and joy["support"] == 3
    assert joy["precision"] == approx(F(2, 3)) and joy["recall"] == approx(F(2, 3))
    assert joy["f1"] == approx(F(2, 3)) and joy["wa"] == approx(F(7, 12))
    assert joy["accuracy"] == approx(F(3, 5))
    assert joy["weighted_f1"] == approx((2 * F(1, 2) + 3 * F(2, 3)) / 5)  # 3/5
    # sad: TP=1 FN=1 FP=0 TN=3; P=2 N=3: WA = (1*3/2 + 3) / 6 = 3/4; negative-class F1 = 6/(6+1+0)
    assert sad["confusion"] == [[3, 0], [1, 1]] and sad["support"] == 2
    assert sad["precision"] == approx(1) and sad["recall"] == approx(F(1, 2))
    assert sad["f1"] == approx(F(2, 3)) and sad["wa"] == approx(F(3, 4))
    assert sad["accuracy"] == approx(F(4, 5))
    assert sad["weighted_f1"] == approx((3 * F(6, 7) + 2 * F(2, 3)) / 5)  # 82/105
    assert m["accuracy"] == approx(F(7, 10))
    assert m["wa"] == approx(F(2, 3)) and m["unweighted_accuracy"] == m["wa"]
    assert m["macro_f1"] == approx(F(2, 3))
    assert m["weighted_f1"] == approx((F(3, 5) + F(82, 105)) / 2)  # 29/42
    assert m["exact_match"] == approx(F(2, 5))
    assert m["confusion_matrix"] == {"joy": [[1, 1], [1, 2]], "sad": [[3, 0], [1, 1]]}
    # A different threshold changes the decision.
    lower = compute_metrics(y, s, ["joy", "sad"], multi_label=True, threshold=0.45)
    assert lower["threshold"] == 0.45 and lower["per_class"]["sad"]["confusion"] == [[3, 0], [0, 2]]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", range(2, 8))
def test_multi_label_matches_sklearn(seed, k):
    rng = np.random.default_rng(1000 + 100 * seed + k)
    n = int(rng.integers(20, 60))
    y = (rng.random((n, k)) < rng.uniform(0.2, 0.6, k)).astype(int)
    y[:, 0] = 0  # an emotion absent from the set
    if k > 3:
        y[:, 1] = 1  # an emotion present everywhere
    scores = np.clip(0.35 * y + rng.random((n, k)) * 0.75, 0, 1)
    if seed == 0:
        scores[:, -1] = 0.1  # an emotion never predicted
    labels = [f"emo{i}" for i in range(k)]
    m = compute_metrics(y, scores, labels, multi_label=True)
    check_common(m)
    p = (scores > 0.5).astype(int)

    cols = range(k)
    assert m["accuracy"] == approx(np.mean([accuracy_score(y[:, j], p[:, j]) for j in cols]))
    assert m["accuracy"] == approx(1 - hamming_loss(y, p))
    assert m["wa"] == approx(np.mean([binary_wa(y[:, j], p[:, j]) for j in cols]))
    assert m["unweighted_accuracy"] == m["wa"]
    assert m["macro_f1"] == approx(f1_score(y, p, average="macro", zero_division=0))
    wf1 = [f1_score(y[:, j], p[:, j], average="weighted", zero_division=0) for j in cols]
    assert m["weighted_f1"] == approx(np.mean(wf1))
    assert m["exact_match"] == approx(accuracy_score(y, p))
    assert m["averaged_over"] == labels

    prec, rec, f1, sup = precision_recall_fscore_support(y, p, average=None, zero_division=0)
    mcm = multilabel_confusion_matrix(y, p)
    for j, name in enumerate(labels):
        c = m["per_class"][name]
        assert c["precision"] == approx(prec[j]) and c["recall"] == approx(rec[j])
        assert c["f1"] == approx(f1[j]) and c["support"] == int(sup[j])
        assert c["weighted_f1"] == approx(wf1[j])
        assert c["wa"] == approx(binary_wa(y[:, j], p[:, j]))
        assert c["accuracy"] == approx(accuracy_score(y[:, j], p[:, j]))
        assert c["confusion"] == mcm[j].tolist() == m["confusion_matrix"][name]


def test_pieces_accept_bool_and_match_compute_metrics():
    rng = np.random.default_rng(7)
    y = rng.random((30, 3)) < 0.4
    s = rng.random((30, 3))
    a = multi_label_metrics(y, s > 0.5, ["a", "b", "c"])
    b = compute_metrics(y.astype(float), s, ["a", "b", "c"], multi_label=True)
    assert {k: v for k, v in b.items() if k not in ("threshold", "definitions")} == {
        k: v for k, v in a.items() if k != "definitions"
    }
    yt = rng.integers(0, 3, 30)
    assert single_label_metrics(yt, s.argmax(1), LABELS) == compute_metrics(yt, s, LABELS, False)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------

LABELS = ["a", "b", "c"]
GOOD_S = np.full((4, 3), 1 / 3)


@pytest.mark.parametrize(
    "y, s, labels, multi, match",
    [
        ([0, 1, 2, 0], np.ones((4, 2)), LABELS, False, r"shape \(N, 3\)"),
        ([0, 1, 2], GOOD_S, LABELS, False, "3 samples, expected 4"),
        ([0, 1, 3, 0], GOOD_S, LABELS, False, "class index 3 outside"),
        ([0, -1, 2, 0], GOOD_S, LABELS, False, "class index -1 outside"),
        ([0, 1.5, 2, 0], GOOD_S, LABELS, False, "integer class indices"),
        ([[0, 1, 2, 0]], GOOD_S, LABELS, False, r"shape \(N,\)"),
        ([0, 1, 2, 0], np.where(np.eye(4, 3) > 0, np.nan, 0.1), LABELS, False, "NaN"),
        ([0, 1, 2, 0], np.full((4, 3), np.inf), LABELS, False, "inf"),
        ([], np.zeros((0, 3)), LABELS, False, "empty"),
        ([0, 1, 2, 0], GOOD_S, ["a", "a", "c"], False, "duplicates"),
        ([0, 1, 2, 0], np.zeros((4, 0)), [], False, "labels is empty"),
        (np.eye(4, 3) * 2, GOOD_S, LABELS, True, "only 0 and 1"),
        (np.eye(4, 2), GOOD_S, LABELS, True, r"shape \(N, 3\)"),
        (np.eye(3, 3), GOOD_S, LABELS, True, "3 samples, expected 4"),
        (np.eye(4, 3), GOOD_S, LABELS, "yes", "multi_label must be"),
    ],
)
def test_rejects_bad_input(y, s, labels, multi, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(y, s, labels, multi_label=multi)


def test_rejects_bad_threshold_and_pieces():
    with pytest.raises(ValueError, match="threshold"):
        compute_metrics(np.eye(4, 3), GOOD_S, LABELS, True, threshold=float("nan"))
    with pytest.raises(ValueError, match="y_pred"):
        single_label_metrics([0, 1], [0, 5], ["a", "b"])
    with pytest.raises(ValueError, match="y_pred"):
        multi_label_metrics([[0, 1]], [[0, 1, 1]], ["a", "b"])
