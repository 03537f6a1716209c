"""The feedback machinery every checker uses.

A checker *never reveals the answer*: it says what kind of mistake it sees (shape, sign,
conservation, off by a factor, not finished yet). On success it prints one line starting with
``✔``; on failure it raises :class:`ExerciseFailed` (an ``AssertionError``, so nbgrader's
autograder counts it as a failed test) whose message is the feedback.

Checker frames set ``__tracebackhide__`` so IPython and pytest show the student's cell and the
message, not the checker's internals.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class ExerciseFailed(AssertionError):
    """The student's answer is not right yet. The message says what to look at."""


def passed(exercise: str, detail: str = "") -> bool:
    """Print the success line and return True (so a checker's result can be asserted)."""
    print(f"✔ {exercise}: correct." + (f" {detail}" if detail else ""))
    return True


def fail(exercise: str, message: str) -> None:
    __tracebackhide__ = True
    raise ExerciseFailed(f"✘ {exercise}: {message}")


def call_student(exercise: str, function: Callable, *args, **kwargs) -> Any:
    """Call the student's function; turn 'not done yet' and crashes into friendly feedback."""
    __tracebackhide__ = True
    if not callable(function):
        fail(exercise, f"expected a function, got {type(function).__name__}. Pass the function "
                       "itself (without calling it).")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        fail(exercise, "not done yet. Replace `raise NotImplementedError()` in the exercise cell "
                       "with your code, run that cell, then run this check again.")
    except ExerciseFailed:
        raise
    except Exception as error:  # the student's code crashed: say how, without our traceback
        fail(exercise, f"your code raised {type(error).__name__}: {error}")


def expect_array(exercise: str, name: str, value: Any, shape: tuple | None = None) -> np.ndarray:
    """Convert to a float array and check it is finite and (optionally) of a given shape."""
    __tracebackhide__ = True
    if value is None:
        fail(exercise, f"`{name}` is None. Did you forget a `return`?")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"`{name}` should be numbers (an array), got {type(value).__name__}.")
    if shape is not None and array.shape != tuple(shape):
        fail(exercise, f"`{name}` has shape {array.shape}, expected {tuple(shape)}.")
    if not np.all(np.isfinite(array)):
        fail(exercise, f"`{name}` contains NaN or inf. Is a division by zero hiding somewhere? "
                       "(LRP stabilises its denominators for exactly this reason.)")
    return array


def expect_close(exercise: str, name: str, value: Any, expected: Any, rtol: float = 1e-5,
                 atol: float = 1e-8) -> np.ndarray:
    """Compare numerically with specific hints: shape, sign flip, constant factor, tolerance."""
    __tracebackhide__ = True
    expected = np.asarray(expected, dtype=np.float64)
    array = expect_array(exercise, name, value, shape=expected.shape)
    if np.allclose(array, expected, rtol=rtol, atol=atol):
        return array
    if np.allclose(-array, expected, rtol=rtol, atol=atol) and np.any(expected != 0):
        fail(exercise, f"`{name}` has the right size but the opposite sign. Check the sign "
                       "convention in your formula.")
    flat_e, flat_a = expected.ravel(), array.ravel()
    nonzero = np.abs(flat_e) > atol
    if np.any(nonzero):
        ratios = flat_a[nonzero] / flat_e[nonzero]
        if np.allclose(ratios, ratios[0], rtol=1e-4) and not np.isclose(ratios[0], 1.0, rtol=rtol):
            fail(exercise, f"`{name}` is off by a constant factor everywhere. A missing or extra "
                           "normalisation (a sum, a norm, a square)?")
    error = np.max(np.abs(array - expected) / (atol + rtol * np.abs(expected) + 1e-300))
    if error < 1e3:
        fail(exercise, f"`{name}` is close, but not within the tolerance (rtol={rtol:g}). "
                       "Rounding, float32 vs float64, or a small stabiliser ε in the wrong place?")
    fail(exercise, f"`{name}` does not match the expected values.")


def expect_conserved(exercise: str, name: str, relevance: Any, total: float,
                     rtol: float = 1e-4) -> None:
    """Relevance must sum to ``total`` (conservation)."""
    __tracebackhide__ = True
    array = expect_array(exercise, name, relevance)
    if not np.isclose(array.sum(), total, rtol=rtol, atol=1e-8):
        fail(exercise, f"relevance is not conserved: `{name}` sums to {array.sum():.4g}, but the "
                       f"relevance arriving from above sums to {total:.4g}.")


def expect_symbolic_equal(exercise: str, name: str, expression: Any, expected: Any) -> None:
    """Two sympy expressions are equal iff ``simplify(a - b) == 0``."""
    __tracebackhide__ = True
    import sympy

    if expression is None:
        fail(exercise, f"`{name}` is None. Did you forget a `return`?")
    try:
        expression = sympy.sympify(expression)
    except (sympy.SympifyError, TypeError):
        fail(exercise, f"`{name}` is not a sympy expression (got {type(expression).__name__}).")
    if sympy.simplify(expression - expected) == 0:
        return
    if sympy.simplify(expression + expected) == 0:
        fail(exercise, f"`{name}` has the opposite sign of the right answer.")
    missing = expected.free_symbols - expression.free_symbols
    extra = expression.free_symbols - expected.free_symbols
    if missing:
        fail(exercise, f"`{name}` should depend on {sorted(map(str, missing))} as well.")
    if extra:
        fail(exercise, f"`{name}` should not depend on {sorted(map(str, extra))}.")
    fail(exercise, f"`{name}` is not equivalent to the right answer (sympy.simplify of the "
                   "difference is not 0).")
