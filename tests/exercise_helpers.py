"""Shared by the checker tests (tests/test_exercises_nbNN.py)."""

import pytest

from lrp_teach.exercises import ExerciseFailed


def not_done(*args):
    """What a student's function does before it is solved (nbgrader's stub)."""
    raise NotImplementedError()


def fails_with(checker, function, *fragments):
    """``checker(function)`` must fail, and its message must contain every fragment."""
    with pytest.raises(ExerciseFailed) as error:
        checker(function)
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)
