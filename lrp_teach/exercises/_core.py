"""The feedback machinery every checker uses.

A checker *never reveals the answer*: it says what kind of mistake it sees (shape, sign,
conservation, off by a factor, close but not within tolerance, not finished yet). On success it
prints one line starting with ``✔``; on failure it raises :class:`ExerciseFailed` (an
``AssertionError``, so nbgrader's autograder counts it as a failed test) whose message is the
feedback and starts with ``✘``.

Checker frames set ``__tracebackhide__ = True`` so that IPython and pytest show the student's cell
and the message, not the checker's internals.

A checker typically looks like this::

    def root_point_t(student_function):
        __tracebackhide__ = True
        exercise = "root_point_t"
        rng = np.random.default_rng(0)
        for _ in range(5):
            w, x, b = rng.normal(size=3), rng.normal(size=3), rng.normal()
            t = call_student(exercise, student_function, w, x, b)
            expect_close(exercise, "t", t, -(w @ x + b) / (w @ w))
        return passed(exercise)
"""

from __future__ import annotations

import dis
import sys
import traceback
import types
from functools import partial
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

__all__ = [
    "ExerciseFailed",
    "Passed",
    "call_student",
    "expect_array",
    "expect_close",
    "expect_conserved",
    "expect_symbolic_equal",
    "fail",
    "passed",
    "reject_taylor",
]


class ExerciseFailed(AssertionError):
    """The student's answer is not right yet. The message says what to look at."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through the checker's code: the student sees
        # the feedback and, if their own code crashed, the traceback into *their* code.
        lines = []
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            try:
                from IPython import get_ipython

                lines += get_ipython().InteractiveTB.structured_traceback(
                    type(cause), cause, cause.__traceback__)
                lines.append("")
            except Exception:  # no IPython shell: the message alone
                lines = []
        lines.append(f"\x1b[31m{type(self).__name__}\x1b[39m: {self}")
        return lines


class Passed(int):
    """What :func:`passed` returns: true (``assert check.x(f)`` works) but invisible in a notebook.

    A check cell ends with the checker call; if that returned a plain ``True``, Jupyter would print
    ``True`` under the "✔ ... correct." line. ``_ipython_display_`` tells IPython there is nothing
    more to show.
    """

    exercise: str

    def __new__(cls, exercise: str) -> "Passed":
        self = super().__new__(cls, 1)
        self.exercise = exercise
        return self

    def __repr__(self) -> str:
        return f"Passed({self.exercise!r})"

    def _ipython_display_(self) -> None:
        pass


def passed(exercise: str, detail: str = "") -> Passed:
    """Print the success line and return a true value (so a checker's result can be asserted)."""
    print(f"✔ {exercise}: correct." + (f" {detail}" if detail else ""))
    return Passed(exercise)


def fail(exercise: str, message: str) -> NoReturn:
    """Raise :class:`ExerciseFailed` with the feedback ``✘ exercise: message``."""
    __tracebackhide__ = True
    raise ExerciseFailed(f"✘ {exercise}: {message}")


NOT_DONE_YET = ("not done yet. Replace `raise NotImplementedError()` in the exercise cell with "
                "your code, run that cell, then run this check again.")


def _where_it_crashed(error: BaseException) -> str:
    """' (in `f`, line N of its cell)': where in the student's function the crash started."""
    frames = traceback.extract_tb(error.__traceback__)
    # The first frame is call_student itself; the student's code comes right after it.
    for frame in frames[1:2]:
        if frame.lineno is not None:
            in_a_cell = "ipykernel" in frame.filename or frame.filename.startswith("<")
            where = "its cell" if in_a_cell else Path(frame.filename).name
            return f" (in `{frame.name}`, line {frame.lineno} of {where})"
    return ""


def _copy_argument(value: Any) -> Any:
    # The student gets copies of arrays, so that code that modifies its input in place cannot
    # change what the checker compares against afterwards.
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)) and all(isinstance(v, np.ndarray) for v in value):
        return type(value)(v.copy() for v in value)
    return value


def call_student(exercise: str, function: Callable, *args, **kwargs) -> Any:
    """Call the student's function; turn 'not done yet' and crashes into friendly feedback.

    - not a function (e.g. the student passed ``f(x)`` instead of ``f``): says so;
    - ``raise NotImplementedError()`` still there: "not done yet" (without a traceback);
    - the student's code raises: names the error and the line, and chains the original exception
      so the traceback into the student's code stays visible below the message.

    NumPy array arguments are copied first, so in-place changes cannot corrupt the checker.
    """
    __tracebackhide__ = True
    if not callable(function):
        fail(exercise, f"expected a function, got {type(function).__name__}. Pass the function "
                       "itself, without calling it: `check.name(my_function)`, not "
                       "`check.name(my_function(...))`.")
    args = tuple(_copy_argument(a) for a in args)
    kwargs = {k: _copy_argument(v) for k, v in kwargs.items()}
    crash: Exception | None = None
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        pass  # handled below, outside the except block: no "during handling..." traceback
    except ExerciseFailed:
        raise
    except Exception as error:  # the student's code crashed
        crash = error
    if crash is None:
        fail(exercise, NOT_DONE_YET)
    text = str(crash).strip().splitlines()[0][:300] if str(crash).strip() else ""
    message = (f"your code raised {type(crash).__name__}: {text}{_where_it_crashed(crash)}. "
               "The traceback above this message shows where.")
    raise ExerciseFailed(f"✘ {exercise}: {message}") from crash


# --- exercises that lrp_teach.taylor would solve ------------------------------------------------
# The checkers of notebooks 01 and 02 compute the right answers with lrp_teach.taylor, and the
# notebooks show its functions right above the exercises. A student function that calls them
# would pass without solving anything, so the checker looks through the function's code first.

#: What a student may take from lrp_teach.taylor: the symbols and the display/comparison helpers.
TAYLOR_ALLOWED = frozenset({"S", "SYMBOLS", "show", "symbolic_equal"})
_TAYLOR_MODULE = "lrp_teach.taylor"
_ATTRIBUTE_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM"})
_NAME_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_MISSING = object()


def _is_taylor_module(value: Any) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__ == _TAYLOR_MODULE


def _is_library(function: types.FunctionType) -> bool:
    """A function of an installed library or the standard library (not the student's code)."""
    root = (getattr(function, "__module__", None) or "").split(".")[0]
    if root in ("", "__main__"):
        return False
    if root in sys.stdlib_module_names or root == "lrp_teach":
        return True
    module_file = str(getattr(sys.modules.get(root), "__file__", "") or "")
    return ("site-packages" in module_file or "dist-packages" in module_file
            or module_file.startswith(sys.base_prefix))


def _taylor_use_of_value(value: Any, seen: set) -> str | None:
    """The lrp_teach.taylor function that ``value`` is or reaches, or None."""
    if isinstance(value, partial):
        for part in (value.func, *value.args, *value.keywords.values()):
            found = _taylor_use_of_value(part, seen)
            if found:
                return found
        return None
    if isinstance(value, types.MethodType):
        value = value.__func__
    if not isinstance(value, types.FunctionType) or id(value) in seen:
        return None
    seen.add(id(value))
    if value.__module__ == _TAYLOR_MODULE:
        return None if value.__name__ in TAYLOR_ALLOWED else f"taylor.{value.__name__}"
    if _is_library(value):
        return None
    closure = {}
    for name, cell in zip(value.__code__.co_freevars, value.__closure__ or ()):
        try:
            closure[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            pass
    return _taylor_use_in_code(value.__code__, value.__globals__, closure, seen)


def _taylor_use_in_code(code: types.CodeType, namespace: dict, closure: dict,
                        seen: set) -> str | None:
    """Follow every name the code loads (and the attributes read from it) to what it is."""
    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        value = _MISSING
        if instruction.opname in _NAME_OPS:
            value = namespace.get(instruction.argval, _MISSING)
        elif instruction.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
            value = closure.get(instruction.argval, _MISSING)
        elif instruction.opname == "IMPORT_NAME":
            if str(instruction.argval).startswith(_TAYLOR_MODULE):
                return "import lrp_teach.taylor"
            value = sys.modules.get(str(instruction.argval), _MISSING)
        if value is _MISSING:
            continue
        following = index + 1
        while True:
            if _is_taylor_module(value):
                # the module itself may only be used to read an allowed name from it
                if (following >= len(instructions)
                        or instructions[following].opname not in _ATTRIBUTE_OPS):
                    return "lrp_teach.taylor"
                attribute = instructions[following].argval
                if attribute not in TAYLOR_ALLOWED:
                    return f"taylor.{attribute}"
                break
            found = _taylor_use_of_value(value, seen)
            if found:
                return found
            if (following < len(instructions) and instructions[following].opname in _ATTRIBUTE_OPS
                    and isinstance(value, types.ModuleType)):
                value = getattr(value, instructions[following].argval, _MISSING)
                following += 1
                if value is _MISSING:
                    break
                continue
            break
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):  # lambdas, inner functions, comprehensions
            found = _taylor_use_in_code(constant, namespace, {}, seen)
            if found:
                return found
    return None


def reject_taylor(exercise: str, function: Any) -> None:
    """Fail if ``function`` (or a function it calls) uses lrp_teach.taylor's solving functions.

    Found by reading the code, before the function runs: the names it loads, the attributes it
    reads from modules, its imports, its closures, nested functions and the student's own helper
    functions it calls (library code is not followed). Allowed: :data:`TAYLOR_ALLOWED`.
    """
    __tracebackhide__ = True
    used = _taylor_use_of_value(function, set())
    if used:
        fail(exercise, f"your function uses `{used}`, which computes the answer for you. Solve "
                       "it yourself without lrp_teach.taylor (only its symbols `S` may be used).")


def _shape_hint(shape: tuple, expected: tuple) -> str:
    same_size = int(np.prod(shape)) == int(np.prod(expected))
    if same_size and len(shape) > 1 and tuple(reversed(shape)) == expected:
        return " It looks transposed."
    if same_size and tuple(n for n in shape if n != 1) == tuple(n for n in expected if n != 1):
        return " Only axes of length 1 differ: np.squeeze, keepdims=True or a [None] index?"
    if same_size:
        return " Same number of values, arranged differently: a reshape or transpose?"
    if len(shape) == len(expected) - 1:
        return " One axis is missing: did you sum (or index) over an axis you should keep?"
    if len(shape) == len(expected) + 1:
        return " There is one axis too many: a missing sum over an axis?"
    return ""


def expect_array(exercise: str, name: str, value: Any, shape: tuple | None = None) -> np.ndarray:
    """Convert to a float64 array; fail unless it is numbers, finite and (optionally) of ``shape``."""
    __tracebackhide__ = True
    if value is None:
        fail(exercise, f"`{name}` is None. Did you forget a `return`?")
    if callable(value) and not hasattr(value, "__array__"):
        fail(exercise, f"`{name}` is a function, expected numbers. Did you forget to call it "
                       "(the parentheses)?")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"`{name}` should be numbers (an array), got {type(value).__name__}.")
    if shape is not None and array.shape != tuple(shape):
        fail(exercise, f"`{name}` has shape {array.shape}, expected {tuple(shape)}."
                       + _shape_hint(array.shape, tuple(shape)))
    if not np.all(np.isfinite(array)):
        fail(exercise, f"`{name}` contains NaN or inf. Is a division by zero hiding somewhere? "
                       "(LRP stabilises its denominators for exactly this reason.)")
    return array


def expect_close(exercise: str, name: str, value: Any, expected: Any, rtol: float = 1e-5,
                 atol: float = 1e-8) -> np.ndarray:
    """Compare numerically, with specific hints: shape, sign flip, constant factor, tolerance.

    Passes when ``np.allclose(value, expected, rtol, atol)``; returns the value as an array.
    """
    __tracebackhide__ = True
    expected = np.asarray(expected, dtype=np.float64)
    array = expect_array(exercise, name, value, shape=expected.shape)
    if np.allclose(array, expected, rtol=rtol, atol=atol):
        return array
    if np.any(np.abs(expected) > atol) and np.allclose(-array, expected, rtol=rtol, atol=atol):
        fail(exercise, f"`{name}` has the right size but the opposite sign. Check the sign "
                       "convention in your formula.")
    flat_e, flat_a = expected.ravel(), array.ravel()
    nonzero = np.abs(flat_e) > atol
    # A common factor only means something across several values (one number is always a
    # "factor" of another).
    if nonzero.sum() >= 2 and np.all(np.abs(flat_a[~nonzero]) <= atol):
        ratios = flat_a[nonzero] / flat_e[nonzero]
        if (np.allclose(ratios, ratios[0], rtol=1e-4) and abs(ratios[0]) > 1e-12
                and not np.isclose(abs(ratios[0]), 1.0, rtol=rtol)):
            fail(exercise, f"`{name}` is off by a constant factor everywhere. A missing or extra "
                           "normalisation (a sum, a norm, a square, a factor 2)?")
    if not np.any(flat_a) and np.any(nonzero):
        fail(exercise, f"`{name}` is all zeros. Did you fill an array but forget to write the "
                       "result into it, or return the wrong variable?")
    # "Close": off by at most 100x the tolerance (and at most 5 %) of the values' overall size --
    # a precision problem, not a wrong formula.
    scale = float(np.max(np.abs(flat_e))) if flat_e.size else 0.0
    if np.max(np.abs(flat_a - flat_e)) <= min(100 * rtol, 0.05) * scale + 100 * atol:
        fail(exercise, f"`{name}` is close, but not within the tolerance (rtol={rtol:g}). "
                       "Rounding, float32 instead of float64, or a stabiliser ε in the wrong place?")
    wrong = ~np.isclose(array, expected, rtol=rtol, atol=atol)
    fail(exercise, f"`{name}` does not match the expected values ({int(wrong.sum())} of "
                   f"{wrong.size} differ).")


def expect_conserved(exercise: str, name: str, relevance: Any, total: float,
                     rtol: float = 1e-4) -> np.ndarray:
    """Relevance must sum to ``total`` (conservation); returns the relevance as an array."""
    __tracebackhide__ = True
    array = expect_array(exercise, name, relevance)
    if not np.isclose(array.sum(), total, rtol=rtol, atol=1e-8):
        fail(exercise, f"relevance is not conserved: `{name}` sums to {array.sum():.4g}, but the "
                       f"relevance arriving from above sums to {float(total):.4g}.")
    return array


def _is_zero(sympy, difference) -> bool:
    if isinstance(difference, sympy.MatrixBase):
        return all(_is_zero(sympy, entry) for entry in difference)
    simplified = sympy.simplify(difference)
    if simplified == 0:
        return True
    # simplify() cannot prove every identity; equals() also tries numerical evaluation.
    return simplified.equals(0) is True


def expect_symbolic_equal(exercise: str, name: str, expression: Any, expected: Any) -> None:
    """Two sympy expressions (or matrices) are equal iff ``simplify(a - b) == 0``.

    Hints: not an expression, opposite sign, constant factor, missing/extra symbols, symbols
    created anew (e.g. from a string) instead of the ones the exercise gave.
    """
    __tracebackhide__ = True
    import sympy

    if expression is None:
        fail(exercise, f"`{name}` is None. Did you forget a `return`?")
    if isinstance(expression, sympy.Basic) and not isinstance(expression, sympy.Expr) \
            and not isinstance(expression, sympy.MatrixBase):
        fail(exercise, f"`{name}` should be an expression, got {type(expression).__name__} "
                       "(an equation or a boolean?). Return the right-hand side only.")
    if callable(expression) and not isinstance(expression, sympy.Basic):
        fail(exercise, f"`{name}` is a function; return a sympy expression instead.")
    try:
        expression = sympy.sympify(expression, strict=True)
    except (sympy.SympifyError, TypeError, ValueError):
        fail(exercise, f"`{name}` is not a sympy expression (got {type(expression).__name__}). "
                       "Build it from the sympy symbols given in the exercise.")
    if not isinstance(expression, (sympy.Expr, sympy.MatrixBase)):
        fail(exercise, f"`{name}` is not a sympy expression (got {type(expression).__name__}). "
                       "Build it from the sympy symbols given in the exercise.")
    expected = sympy.sympify(expected)

    matrices = [isinstance(e, sympy.MatrixBase) for e in (expression, expected)]
    if any(matrices):
        if not all(matrices) or expression.shape != expected.shape:
            got = expression.shape if matrices[0] else "a scalar"
            want = expected.shape if matrices[1] else "a scalar"
            fail(exercise, f"`{name}` has shape {got}, expected {want}.")
    if _is_zero(sympy, expression - expected):
        return
    if _is_zero(sympy, expression + expected):
        fail(exercise, f"`{name}` has the opposite sign of the right answer.")

    missing = expected.free_symbols - expression.free_symbols
    extra = expression.free_symbols - expected.free_symbols
    if missing and sorted(map(str, missing)) == sorted(map(str, extra)):
        fail(exercise, f"`{name}` uses new symbols with the same names "
                       f"({', '.join(sorted(map(str, extra)))}) but different assumptions. Build "
                       "it from the symbols the exercise defines, not from a string or a new "
                       "`sympy.Symbol(...)`.")
    if missing:
        fail(exercise, f"`{name}` should depend on {', '.join(sorted(map(str, missing)))} too.")
    if extra:
        fail(exercise, f"`{name}` should not depend on {', '.join(sorted(map(str, extra)))}.")

    if not any(matrices) and expected != 0:
        ratio = sympy.simplify(expression / expected)
        if ratio.is_number and ratio != 0:
            fail(exercise, f"`{name}` is off by a constant factor. A missing or extra factor "
                           "(2, 1/2, a square)?")
    fail(exercise, f"`{name}` is not equivalent to the right answer (sympy.simplify of the "
                   "difference is not 0).")
