"""The evaluation summary: its keys and numbers."""

import statistics

import pytest

from distill.errors import DistillError
from distill.evaluation import summarize


def test_summary_of_accuracies():
    after, before = [0.5, 0.7, 0.9], [0.1, 0.1, 0.1]
    summary = summarize(after, before)
    assert summary["test_accuracy"] == pytest.approx(0.7)
    assert summary["test_accuracy_std"] == pytest.approx(statistics.stdev(after))
    assert summary["test_accuracy_before"] == pytest.approx(0.1)
    assert summary["test_accuracies"] == after
    assert summary["models"] == 3


def test_summary_of_losses_and_one_network():
    summary = summarize([2.0], [4.0], "test_loss")
    assert summary["test_losses"] == [2.0]
    assert summary["test_loss_std"] == 0.0


def test_unknown_summary_key_is_refused():
    with pytest.raises(DistillError, match="test_accuracy, test_loss"):
        summarize([1.0], [1.0], "accuracy")
