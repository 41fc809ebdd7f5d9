"""GLUE metrics against hand-computed values."""

import math

import pytest

from harness import metrics


def test_accuracy_counts_matches():
    assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == {"accuracy": 0.5}


def test_f1_is_of_the_positive_class():
    # tp=2, fp=1, fn=1 -> precision 2/3, recall 2/3, F1 2/3; accuracy 3/5
    out = metrics.accuracy_and_f1([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])
    assert out["accuracy"] == pytest.approx(0.6)
    assert out["f1"] == pytest.approx(2 / 3)


def test_matthews_by_hand():
    # tp=2 tn=1 fp=1 fn=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert metrics.matthews([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])["matthews"] == pytest.approx(1 / 6)


def test_matthews_perfect_and_inverse():
    assert metrics.matthews([0, 1, 0, 1], [0, 1, 0, 1])["matthews"] == pytest.approx(1.0)
    assert metrics.matthews([1, 0, 1, 0], [0, 1, 0, 1])["matthews"] == pytest.approx(-1.0)


def test_pearson_and_spearman_by_hand():
    preds, gold = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]
    # pearson: cov = 1.0 (sum of products of deviations 4/4), var = 1.25 each -> 0.8
    out = metrics.pearson_and_spearman(preds, gold)
    assert out["pearson"] == pytest.approx(0.8)
    # spearman on ranks: d = (0, 1, -1, 0), 1 - 6*2/(4*15) = 0.8
    assert out["spearman"] == pytest.approx(0.8)


def test_spearman_differs_from_pearson_on_nonlinear_monotone():
    out = metrics.pearson_and_spearman([1, 2, 3, 100], [1, 2, 3, 4])
    assert out["spearman"] == pytest.approx(1.0)
    assert out["pearson"] < 0.9


def test_constant_prediction_gives_zero_not_nan():
    out = metrics.pearson_and_spearman([2.5, 2.5, 2.5], [1.0, 2.0, 3.0])
    assert out == {"pearson": 0.0, "spearman": 0.0}
    assert not any(math.isnan(v) for v in out.values())
