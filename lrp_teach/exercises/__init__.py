"""Exercise checkers: instant feedback that never gives the answer away.

Convention (see INSTRUCTORS.md): an exercise is a markdown cell with the task, a code cell that
defines a *function* whose body sits between nbgrader's ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` markers, and a check cell, e.g. ``check.root_point(root_point)``. The student version
replaces the body with ``raise NotImplementedError()``; the checker turns that into a friendly
"not done yet".

One module per notebook (``nb01`` ... ``nb05``) holds that notebook's checkers; they all use
:mod:`lrp_teach.exercises._core`.
"""

from ._core import (  # noqa: F401
    ExerciseFailed,
    call_student,
    expect_array,
    expect_close,
    expect_conserved,
    expect_symbolic_equal,
    fail,
    passed,
)
