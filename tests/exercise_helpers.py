"""Shared by the test modules (instead of importing between test modules).

The checker tests (tests/test_exercises_nbNN.py): :func:`not_done`, :func:`fails_with`. The
student-version and nbgrader tests (tests/test_student_versions.py,
tests/test_nbgrader_workflow.py): the tools, the fixture notebook and the solution checks below.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import textwrap
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

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


# --- student versions and nbgrader: the tools and the fixture notebook ------------------------

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


nbgrader_metadata = _load_tool("nbgrader_metadata")
make_student = _load_tool("make_student")

# --- the fixture: a tiny course notebook with three exercises and its checker module -------------

FIXTURE_CHECKS = '''\
"""Checkers of the fixture notebook, written like lrp_teach/exercises/nbNN.py."""
import numpy as np
import sympy

from lrp_teach.exercises._core import (call_student, expect_close, expect_conserved,
                                       expect_symbolic_equal, passed)


def root_point_t(student_function):
    __tracebackhide__ = True
    exercise = "root_point_t"
    rng = np.random.default_rng(0)
    for _ in range(3):
        w, x, b = rng.normal(size=3), rng.normal(size=3), rng.normal()
        t = call_student(exercise, student_function, w, x, b)
        expect_close(exercise, "t", t, -(w @ x + b) / (w @ w))
    return passed(exercise)


def z_rule(student_function):
    __tracebackhide__ = True
    exercise = "z_rule"
    rng = np.random.default_rng(1)
    a, w, r = rng.uniform(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)
    relevance = call_student(exercise, student_function, a, w, r)
    z = a[:, None] * w
    expect_conserved(exercise, "relevance", relevance, r.sum())
    expect_close(exercise, "relevance", relevance, (z / z.sum(0) * r).sum(1))
    return passed(exercise)


def linear_relevance(student_function):
    __tracebackhide__ = True
    exercise = "linear_relevance"
    w, x = sympy.symbols("w x", real=True)
    expect_symbolic_equal(exercise, "relevance", call_student(exercise, student_function, w, x),
                          w * x)
    return passed(exercise)
'''

SOLUTION_ROOT_POINT = "return -(w @ x + b) / (w @ w)"
SOLUTION_Z_RULE = ["z = a[:, None] * w", "return (z / z.sum(axis=0) * relevance_above).sum(axis=1)"]
SOLUTION_LINEAR = "return w * x"


def fixture_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Fixture\n\n## What you will learn\nHow exercises work."),
        new_code_cell("import lrp_teach\nlrp_teach.setup_notebook(tensorflow=False)",
                      metadata={"tags": ["nbval-ignore-output"]}),
        new_code_cell("import numpy as np\nimport sympy\nimport fixture_checks as check"),
        new_markdown_cell("**Exercise 1.** Find t such that f(x + t w) = 0."),
        new_code_cell(textwrap.dedent(f'''\
            def root_point_t(w, x, b):
                """Return t such that f(x + t w) = 0."""
                ### BEGIN SOLUTION
                {SOLUTION_ROOT_POINT}
                ### END SOLUTION''')),
        new_code_cell("check.root_point_t(root_point_t)"),
        new_markdown_cell("Between exercises: a demo cell that is not an exercise."),
        new_code_cell("demo = np.arange(3)\nprint(demo.sum())"),
        new_markdown_cell("**Exercise 2.** The z-rule."),
        new_code_cell(textwrap.dedent(f'''\
            def z_rule(a, w, relevance_above):
                ### BEGIN SOLUTION
                {SOLUTION_Z_RULE[0]}
                {SOLUTION_Z_RULE[1]}
                ### END SOLUTION''')),
        new_markdown_cell("A hint between the exercise and its check."),
        new_code_cell("check.z_rule(z_rule)"),
        new_markdown_cell("**Exercise 3.** Relevance of a linear neuron, symbolically."),
        new_code_cell(textwrap.dedent(f'''\
            def linear_relevance(w, x):
                ### BEGIN SOLUTION
                {SOLUTION_LINEAR}
                ### END SOLUTION

            w_, x_ = sympy.symbols("w x", real=True)''')),
        new_code_cell("check.linear_relevance(linear_relevance)"),
        new_markdown_cell("## Summary\nExercises have checks."),
    ]
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"  # deterministic ids: the notebook is compared as text
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_fixture(folder: Path, name: str = "01_fixture.ipynb") -> Path:
    """The fixture notebook (with nbgrader metadata, as run_notebooks writes it) and its checks."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fixture_checks.py").write_text(FIXTURE_CHECKS)
    path = folder / name
    nbformat.write(nbgrader_metadata.add_nbgrader_metadata(fixture_notebook()), path)
    return path


# --- helpers --------------------------------------------------------------------------------------

def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_lines(source: str) -> list[str]:
    """The stripped, non-empty lines strictly between the solution markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if nbgrader_metadata.BEGIN in line:
            inside = True
        elif nbgrader_metadata.END in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def outside_solution_lines(nb) -> Counter:
    counter = Counter()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if nbgrader_metadata.BEGIN in line:
                inside = True
            elif nbgrader_metadata.END in line:
                inside = False
            elif not inside and line.strip():
                counter[line.strip()] += 1
    return counter


def all_lines(nb) -> Counter:
    return Counter(line.strip() for cell in nb.cells for line in cell.source.splitlines()
                   if line.strip())


def python_source(source: str) -> str:
    """A cell's source as plain Python (IPython magics such as %matplotlib transformed)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def definitions_only(source: str) -> str:
    """The imports and function/class definitions of a cell, without what it runs."""
    tree = ast.parse(python_source(source))
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    tree.body = [node for node in tree.body if isinstance(node, keep)]
    return ast.unparse(tree)


def imports_only(source: str) -> str:
    tree = ast.parse(python_source(source))
    tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ast.unparse(tree)


def exercises(nb):
    """(exercise cell, its check cell) pairs, from the nbgrader metadata."""
    pairs = []
    for index, cell in enumerate(nb.cells):
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            check = next((c for c in nb.cells[index + 1:] if c.cell_type == "code"), None)
            pairs.append((cell, check if check is not None and nbgrader_meta(check).get("grade")
                          else None))
    return pairs


def stub_feedback_in_process(student_nb, folder: Path) -> list[tuple[str, str]]:
    """Run each stubbed exercise and its check in this process: (check source, outcome) pairs.

    Only the notebook's imports, the exercise cells' definitions and the check cells run -- fast,
    and enough because a check cell only gets the student's function. Outcome: the feedback
    message, or 'PASSED' / 'ERROR <type>: <message>'.
    """
    from lrp_teach.exercises import ExerciseFailed

    namespace: dict = {"__name__": "__student__"}
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        for cell in student_nb.cells:
            if cell.cell_type == "code" and not nbgrader_meta(cell).get("solution"):
                exec(compile(imports_only(cell.source), "<imports>", "exec"), namespace)
        outcomes = []
        for exercise, check in exercises(student_nb):
            if check is None:
                continue  # test_notebook_has_at_least_three_checked_exercises reports it
            try:
                exec(compile(definitions_only(exercise.source), "<exercise>", "exec"), namespace)
            except Exception as error:  # noqa: BLE001 -- e.g. a default argument from the notebook
                outcomes.append((check.source, f"ERROR in the exercise cell "
                                               f"{type(error).__name__}: {error}"))
                continue
            try:
                exec(compile(python_source(check.source), "<check>", "exec"), namespace)
                outcome = "PASSED"
            except ExerciseFailed as failure:
                outcome = str(failure)
            except Exception as error:  # noqa: BLE001 -- reported by the test
                outcome = f"ERROR {type(error).__name__}: {error}"
            outcomes.append((check.source, outcome))
        return outcomes
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path

def assert_no_solution_survives(instructor, student):
    allowed = outside_solution_lines(instructor)  # e.g. a `return x` also used elsewhere
    student_lines = all_lines(student)
    for cell in instructor.cells:
        for line in solution_lines(cell.source):
            assert student_lines[line] <= allowed[line], (
                f"solution line survives in the student version: {line!r}")
    for cell in student.cells:
        assert nbgrader_metadata.BEGIN not in cell.source
        assert nbgrader_metadata.END not in cell.source
