"""The feedback helpers every checker is built from (lrp_teach/exercises/_core.py).

Each helper: the right answer passes, and each typical mistake fails with ITS message (the
message is what the student reads, so it is what we test).
"""

import numpy as np
import pytest
import sympy

from lrp_teach.exercises import _core
from lrp_teach.exercises._core import (
    ExerciseFailed,
    call_student,
    expect_array,
    expect_close,
    expect_conserved,
    expect_symbolic_equal,
    fail,
    passed,
)

EX = "demo"


def feedback(function, *args, **kwargs) -> str:
    """The message of the ExerciseFailed that ``function(*args)`` raises."""
    with pytest.raises(ExerciseFailed) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"✘ {EX}: "), message
    return message


# --- passed / fail -------------------------------------------------------------------------------

def test_passed_prints_the_success_line_and_is_true(capsys):
    result = passed(EX)
    assert capsys.readouterr().out == "✔ demo: correct.\n"
    assert result and result == True  # noqa: E712 -- checkers' tests may compare with True
    assert repr(result) == "Passed('demo')"


def test_passed_detail_is_appended(capsys):
    passed(EX, "Relevance is conserved.")
    assert capsys.readouterr().out == "✔ demo: correct. Relevance is conserved.\n"


def test_passed_displays_nothing_in_a_notebook():
    # IPython calls _ipython_display_ instead of printing repr: the check cell shows only the ✔ line.
    from IPython.core.formatters import DisplayFormatter

    data, metadata = DisplayFormatter().format(passed(EX))
    assert data == {}


def test_fail_is_an_assertion_error_so_nbgrader_counts_it():
    with pytest.raises(AssertionError, match="^✘ demo: look at the sign$"):
        fail(EX, "look at the sign")


# --- call_student ---------------------------------------------------------------------------------

def test_call_student_returns_the_result():
    assert call_student(EX, lambda a, b=0: a + b, 2, b=3) == 5


def test_call_student_stub_says_not_done_yet_without_a_chained_traceback():
    def stub(x):
        # YOUR CODE HERE
        raise NotImplementedError()

    with pytest.raises(ExerciseFailed) as info:
        call_student(EX, stub, 1)
    assert "not done yet" in str(info.value)
    assert "raise NotImplementedError()" in str(info.value)
    # no "During handling of the above exception" noise in the student's notebook
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_call_student_not_a_function():
    message = feedback(call_student, EX, 3.0, 1)
    assert "expected a function, got float" in message
    assert "without calling it" in message


def test_call_student_crash_names_the_error_and_keeps_the_students_traceback():
    def buggy(x):
        return x / undefined_name  # noqa: F821

    with pytest.raises(ExerciseFailed) as info:
        call_student(EX, buggy, 1.0)
    message = str(info.value)
    assert "your code raised NameError: name 'undefined_name' is not defined" in message
    assert "in `buggy`, line" in message and "of test_exercises_core.py" in message
    assert isinstance(info.value.__cause__, NameError)


def test_call_student_crash_with_a_long_message_is_shortened():
    def buggy(x):
        raise ValueError("first line\n" + "x" * 1000)

    message = feedback(call_student, EX, buggy, 1)
    assert "ValueError: first line" in message
    assert "x" * 400 not in message


def test_call_student_passes_copies_of_arrays():
    x = np.arange(3.0)

    def in_place(a):
        a *= 10
        return a

    assert np.array_equal(call_student(EX, in_place, x), [0.0, 10.0, 20.0])
    assert np.array_equal(x, [0.0, 1.0, 2.0])  # the checker's array is untouched


def test_call_student_lets_a_nested_exercise_failed_through():
    def student(x):
        fail(EX, "inner feedback")

    assert feedback(call_student, EX, student, 1) == "✘ demo: inner feedback"


# --- expect_array ---------------------------------------------------------------------------------

def test_expect_array_right_answer():
    array = expect_array(EX, "R", [[1, 2], [3, 4]], shape=(2, 2))
    assert array.dtype == np.float64 and array.shape == (2, 2)


def test_expect_array_none_means_missing_return():
    assert "`R` is None. Did you forget a `return`?" in feedback(expect_array, EX, "R", None)


def test_expect_array_not_numbers():
    assert "should be numbers" in feedback(expect_array, EX, "R", "hello")
    assert "should be numbers" in feedback(expect_array, EX, "R", [[1, 2], [3]])


def test_expect_array_a_function_instead_of_its_result():
    assert "is a function" in feedback(expect_array, EX, "R", np.sum)


@pytest.mark.parametrize("shape, hint", [
    ((3, 2), "It looks transposed."),
    ((6,), "arranged differently"),
    ((2,), "One axis is missing"),
    ((2, 3, 4), "one axis too many"),
    ((1, 2, 3), "Only axes of length 1 differ"),
])
def test_expect_array_wrong_shape(shape, hint):
    message = feedback(expect_array, EX, "R", np.ones(shape), shape=(2, 3))
    assert f"`R` has shape {shape}, expected (2, 3)." in message
    assert hint in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_expect_array_nan_or_inf(bad):
    assert "contains NaN or inf" in feedback(expect_array, EX, "R", [1.0, bad])


def test_expect_array_accepts_a_tensor_like():
    class TensorLike:
        def __array__(self, dtype=None, copy=None):
            return np.ones(2, dtype=dtype)

    assert expect_array(EX, "R", TensorLike(), shape=(2,)).sum() == 2


# --- expect_close ---------------------------------------------------------------------------------

EXPECTED = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])


def test_expect_close_right_answer_returns_the_array():
    result = expect_close(EX, "R", EXPECTED.tolist(), EXPECTED)
    assert np.array_equal(result, EXPECTED)


def test_expect_close_within_tolerance_passes():
    expect_close(EX, "R", EXPECTED * (1 + 1e-7), EXPECTED)
    expect_close(EX, "t", 2.0 + 1e-3, 2.0, rtol=1e-2)  # a checker may loosen the tolerance


def test_expect_close_wrong_shape():
    assert "has shape (3, 2), expected (2, 3)" in feedback(expect_close, EX, "R", EXPECTED.T,
                                                           EXPECTED)


def test_expect_close_opposite_sign():
    assert "opposite sign" in feedback(expect_close, EX, "R", -EXPECTED, EXPECTED)


@pytest.mark.parametrize("factor", [2.0, 0.5, 1.3, -3.0])
def test_expect_close_constant_factor(factor):
    assert "off by a constant factor" in feedback(expect_close, EX, "R", factor * EXPECTED,
                                                  EXPECTED)


def test_expect_close_close_but_outside_tolerance():
    message = feedback(expect_close, EX, "R", EXPECTED + 1e-4, EXPECTED)
    assert "close, but not within the tolerance (rtol=1e-05)" in message


def test_expect_close_float32_precision_is_close_not_wrong():
    value = np.float32(1 / 3) * 3 + 1e-6
    assert "close, but not within" in feedback(expect_close, EX, "x", value, 1.0, rtol=1e-7)


def test_expect_close_nan():
    value = EXPECTED.copy()
    value[0, 0] = np.nan
    assert "contains NaN or inf" in feedback(expect_close, EX, "R", value, EXPECTED)


def test_expect_close_all_zeros():
    assert "is all zeros" in feedback(expect_close, EX, "R", np.zeros_like(EXPECTED), EXPECTED)


def test_expect_close_single_value_off_by_a_factor_is_just_wrong():
    assert "does not match" in feedback(expect_close, EX, "t", 2.0, 1.0)


def test_expect_close_plainly_wrong_says_how_many_values_differ():
    value = EXPECTED.copy()
    value[1, 2] = 7.0
    message = feedback(expect_close, EX, "R", value, EXPECTED)
    assert "does not match the expected values (1 of 6 differ)" in message


def test_expect_close_never_reveals_the_expected_values():
    expected = np.array([0.123456, 9.87654])
    for value in ([0.5, 0.5], -expected, 2 * expected, expected + 1e-4):
        message = feedback(expect_close, EX, "R", value, expected)
        assert "0.123" not in message and "9.87" not in message


def test_expect_close_a_factor_with_stray_values_where_zero_is_expected_is_not_a_factor():
    value = 2 * EXPECTED
    value[1, 1] = 5.0  # expected 0 there
    assert "constant factor" not in feedback(expect_close, EX, "R", value, EXPECTED)


# --- expect_conserved -----------------------------------------------------------------------------

def test_expect_conserved_right_answer():
    relevance = np.array([0.25, 0.5, 0.25])
    assert np.array_equal(expect_conserved(EX, "R_input", relevance, 1.0), relevance)


def test_expect_conserved_not_conserved():
    message = feedback(expect_conserved, EX, "R_input", [0.5, 0.25], 1.0)
    assert "relevance is not conserved: `R_input` sums to 0.75" in message
    assert "sums to 1" in message


def test_expect_conserved_nan():
    assert "contains NaN or inf" in feedback(expect_conserved, EX, "R", [np.nan, 1.0], 1.0)


def test_expect_conserved_tolerance():
    expect_conserved(EX, "R", [0.5, 0.5 + 1e-6], 1.0)  # inside the default rtol=1e-4
    assert "not conserved" in feedback(expect_conserved, EX, "R", [0.5, 0.5 + 1e-6], 1.0,
                                       rtol=1e-9)


# --- expect_symbolic_equal ------------------------------------------------------------------------

x, w, b = sympy.symbols("x w b", real=True)
ROOT = -b / w  # the right answer of a small exercise: the x where w x + b = 0


def test_symbolic_right_answer_in_any_form():
    expect_symbolic_equal(EX, "x0", -b / w, ROOT)
    expect_symbolic_equal(EX, "x0", (-b * w) / w**2, ROOT)
    expect_symbolic_equal(EX, "identity", sympy.sin(x) ** 2 + sympy.cos(x) ** 2, sympy.Integer(1))
    expect_symbolic_equal(EX, "number", 1, sympy.Integer(1))


def test_symbolic_not_equivalent():
    message = feedback(expect_symbolic_equal, EX, "x0", (1 - b) / w, ROOT)
    assert "`x0` is not equivalent to the right answer" in message


def test_symbolic_opposite_sign():
    assert "`x0` has the opposite sign" in feedback(expect_symbolic_equal, EX, "x0", b / w, ROOT)


def test_symbolic_constant_factor():
    assert "off by a constant factor" in feedback(expect_symbolic_equal, EX, "x0", -2 * b / w, ROOT)


def test_symbolic_missing_symbol():
    assert "`x0` should depend on b too" in feedback(expect_symbolic_equal, EX, "x0", -1 / w, ROOT)


def test_symbolic_extra_symbol():
    message = feedback(expect_symbolic_equal, EX, "x0", -b / w + x, ROOT)
    assert "`x0` should not depend on x" in message


def test_symbolic_symbols_made_anew_with_other_assumptions():
    plain_b, plain_w = sympy.symbols("b w")  # no real=True: different symbols for sympy
    message = feedback(expect_symbolic_equal, EX, "x0", -plain_b / plain_w, ROOT)
    assert "new symbols with the same names (b, w)" in message


def test_symbolic_none_string_function_equation():
    assert "Did you forget a `return`?" in feedback(expect_symbolic_equal, EX, "x0", None, ROOT)
    assert "not a sympy expression (got str)" in feedback(expect_symbolic_equal, EX, "x0",
                                                          "-b/w", ROOT)
    assert "is a function" in feedback(expect_symbolic_equal, EX, "x0", lambda: ROOT, ROOT)
    assert "an equation or a boolean" in feedback(expect_symbolic_equal, EX, "x0",
                                                  sympy.Eq(x, ROOT), ROOT)


def test_symbolic_matrices():
    expected = sympy.Matrix([[w, 0], [0, b]])
    expect_symbolic_equal(EX, "M", sympy.Matrix([[w * b / b, 0], [0, b]]), expected)
    assert "has shape (1, 2), expected (2, 2)" in feedback(
        expect_symbolic_equal, EX, "M", sympy.Matrix([[w, b]]), expected)
    assert "not equivalent" in feedback(
        expect_symbolic_equal, EX, "M", sympy.Matrix([[w, 0], [0, 2 * b]]), expected)
    assert "opposite sign" in feedback(expect_symbolic_equal, EX, "M", -expected, expected)


def test_symbolic_identity_that_plain_simplify_misses_is_still_accepted():
    # equals() is the fallback when simplify() leaves an unsimplified zero
    expression = sympy.log(sympy.exp(x) * sympy.exp(w))
    expect_symbolic_equal(EX, "s", expression, x + w)


# --- a whole checker built from the helpers, as notebooks use them ------------------------------

def check_root_point_t(student_function):
    __tracebackhide__ = True
    rng = np.random.default_rng(0)
    for _ in range(3):
        w_, x_, b_ = rng.normal(size=3), rng.normal(size=3), rng.normal()
        t = call_student(EX, student_function, w_, x_, b_)
        expect_close(EX, "t", t, -(w_ @ x_ + b_) / (w_ @ w_))
    return passed(EX)


def stub_root_point_t(w_, x_, b_):
    # YOUR CODE HERE
    raise NotImplementedError()


def test_a_checker_built_from_the_helpers(capsys):
    assert check_root_point_t(lambda w_, x_, b_: -(w_ @ x_ + b_) / (w_ @ w_))
    assert capsys.readouterr().out == "✔ demo: correct.\n"
    assert "opposite sign" in feedback(check_root_point_t,
                                       lambda w_, x_, b_: (w_ @ x_ + b_) / (w_ @ w_))
    assert "does not match" in feedback(check_root_point_t,  # forgot the bias
                                        lambda w_, x_, b_: -(w_ @ x_) / (w_ @ w_))
    assert "not done yet" in feedback(check_root_point_t, stub_root_point_t)
    assert "expected a function" in feedback(check_root_point_t, 0.5)


def test_public_names_stay_exported():
    from lrp_teach import exercises

    for name in ("ExerciseFailed", "call_student", "expect_array", "expect_close",
                 "expect_conserved", "expect_symbolic_equal", "fail", "passed"):
        assert getattr(exercises, name) is getattr(_core, name)


def test_feedback_renders_without_the_checkers_traceback_in_ipython():
    # IPython calls _render_traceback_ instead of printing frames of the checker's code.
    failure = ExerciseFailed("✘ demo: not done yet.")
    assert failure._render_traceback_() == ["\x1b[31mExerciseFailed\x1b[39m: ✘ demo: not done yet."]
    with pytest.raises(ExerciseFailed) as info:
        call_student(EX, lambda: 1 / 0)
    # outside IPython (no shell to format the student's traceback): the message alone
    rendered = info.value._render_traceback_()
    assert len(rendered) == 1
    assert "ZeroDivisionError: division by zero (in `<lambda>`, line " in rendered[0]
    assert "of test_exercises_core.py)" in rendered[0]


def test_crash_in_a_notebook_cell_names_the_cell_line():
    namespace = {}
    exec(compile("def student(x):\n    y = 1\n    return x / 0", "<ipython-input-1>", "exec"),
         namespace)
    message = feedback(call_student, EX, namespace["student"], 1)
    assert "(in `student`, line 3 of its cell)" in message
