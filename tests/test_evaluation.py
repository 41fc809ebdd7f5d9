"""Evaluation flags the rows whose score should not be read at face value."""

from harness.evaluation import near_constant_warning, single_class_warning


def test_a_classifier_predicting_one_class_is_flagged():
    assert single_class_warning([1, 1, 1], "dev").startswith("single_class: predicts class 1")
    assert single_class_warning([1, 0, 1], "dev") is None


def test_a_regression_head_collapsed_to_the_mean_is_flagged():
    labels = [0.0, 1.0, 2.5, 4.0, 5.0]
    collapsed = [2.49, 2.51, 2.50, 2.52, 2.48]  # what STS-B seed 2 did at one epoch
    assert near_constant_warning(collapsed, labels, "dev").startswith("near_constant: predictions spread")
    assert near_constant_warning([0.3, 1.2, 2.2, 3.9, 4.6], labels, "dev") is None
    assert near_constant_warning([1.0, 1.0], [2.0, 2.0], "dev") is None  # constant labels: nothing to say
