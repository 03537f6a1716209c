"""Student versions (tools/make_student.py) and the nbgrader metadata (tools/nbgrader_metadata.py).

Run on a small fixture notebook written here (so these tests mean something whatever notebooks
exist) and on every real ``notebooks/NN_*.ipynb``:

- the metadata tagger marks exercise cells as solution cells and their check cells as grade
  cells, with unique ids; idempotent; the committed notebooks carry up-to-date metadata;
- the student version keeps every cell but no solution line and no output;
- every exercise's check fails on the stub with the friendly "not done yet".
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


# --- the metadata tagger --------------------------------------------------------------------------

def test_tagger_marks_exercises_and_checks():
    nb = nbgrader_metadata.add_nbgrader_metadata(fixture_notebook())
    marked = {index: nbgrader_meta(cell) for index, cell in enumerate(nb.cells)
              if "nbgrader" in cell.metadata}
    assert marked == {
        4: {"schema_version": 3, "grade": False, "solution": True, "locked": False,
            "grade_id": "nb-root_point_t"},
        5: {"schema_version": 3, "grade": True, "solution": False, "locked": True,
            "grade_id": "nb-root_point_t-check", "points": 1},
        9: {"schema_version": 3, "grade": False, "solution": True, "locked": False,
            "grade_id": "nb-z_rule"},
        11: {"schema_version": 3, "grade": True, "solution": False, "locked": True,
             "grade_id": "nb-z_rule-check", "points": 1},
        13: {"schema_version": 3, "grade": False, "solution": True, "locked": False,
             "grade_id": "nb-linear_relevance"},
        14: {"schema_version": 3, "grade": True, "solution": False, "locked": True,
             "grade_id": "nb-linear_relevance-check", "points": 1},
    }


def test_tagger_ids_come_from_the_checker_module_the_notebook_imports():
    nb = fixture_notebook()
    nb.cells[2].source = "import numpy as np\nimport sympy\nfrom lrp_teach.exercises import nb03 as check"
    nbgrader_metadata.add_nbgrader_metadata(nb)
    assert nbgrader_meta(nb.cells[4])["grade_id"] == "nb03-root_point_t"
    nbgrader_metadata.add_nbgrader_metadata(nb, notebook_id="03_z plus")
    assert nbgrader_meta(nb.cells[4])["grade_id"] == "03_z_plus-root_point_t"


def test_tagger_is_idempotent_and_deterministic():
    once = nbgrader_metadata.add_nbgrader_metadata(fixture_notebook())
    twice = nbgrader_metadata.add_nbgrader_metadata(nbformat.from_dict(once))
    assert nbformat.writes(once) == nbformat.writes(twice)
    assert nbformat.writes(once) == nbformat.writes(
        nbgrader_metadata.add_nbgrader_metadata(fixture_notebook()))


def test_tagger_output_is_valid_nbgrader_metadata():
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nbgrader_metadata.add_nbgrader_metadata(fixture_notebook()))


def test_tagger_makes_ids_unique_and_removes_stale_marks():
    nb = fixture_notebook()
    nb.cells[9].source = nb.cells[9].source.replace("def z_rule", "def root_point_t")
    nb.cells[7].metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": True,
                                        "locked": False, "grade_id": "old"}
    nbgrader_metadata.add_nbgrader_metadata(nb)
    assert nbgrader_meta(nb.cells[9])["grade_id"] == "nb-root_point_t_2"
    assert nbgrader_meta(nb.cells[11])["grade_id"] == "nb-root_point_t_2-check"
    assert "nbgrader" not in nb.cells[7].metadata  # a demo cell is never wiped as a "solution"


def test_tagger_exercise_without_a_function_or_check():
    nb = new_notebook(cells=[
        new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"),
        new_code_cell("print(answer)"),  # not a check: stays unmarked
    ])
    nbgrader_metadata.add_nbgrader_metadata(nb)
    assert nbgrader_meta(nb.cells[0])["grade_id"] == "nb-exercise1"
    assert "nbgrader" not in nb.cells[1].metadata


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "a second"),
    ("x = 1\n### END SOLUTION", "without a"),
])
def test_tagger_rejects_unbalanced_markers(source, problem):
    with pytest.raises(nbgrader_metadata.MetadataError, match=problem):
        nbgrader_metadata.add_nbgrader_metadata(new_notebook(cells=[new_code_cell(source)]))


def test_tagger_rejects_markers_in_markdown_prose():
    nb = new_notebook(cells=[new_markdown_cell("Write your code between ### BEGIN SOLUTION and "
                                               "### END SOLUTION.")])
    with pytest.raises(nbgrader_metadata.MetadataError, match="Reword the text"):
        nbgrader_metadata.add_nbgrader_metadata(nb)


def test_run_notebooks_clean_adds_the_metadata():
    run_notebooks = _load_tool("run_notebooks")
    nb = run_notebooks.clean(fixture_notebook())
    assert nbgrader_meta(nb.cells[5])["grade"] is True


def test_nbval_reads_only_the_tags_of_cell_metadata():
    # nbval compares outputs; of a cell's metadata it reads only `tags`. (An end-to-end nbval run
    # of a tagged notebook is in test_nbgrader_workflow.py.)
    from nbval.plugin import find_metadata_tags

    nb = nbgrader_metadata.add_nbgrader_metadata(fixture_notebook())
    assert dict(find_metadata_tags(nb.cells[5].metadata)) == {}
    nb.cells[5].metadata["tags"] = ["nbval-ignore-output"]
    assert dict(find_metadata_tags(nb.cells[5].metadata)) == {"check": False}


# --- student versions -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixture_student(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    path = write_fixture(folder / "notebooks")
    (folder / "notebooks" / "figure.png").write_bytes(b"png")
    (folder / "notebooks" / "sanitize.cfg").write_text("")
    out = folder / "student"
    make_student.make_student([path], out)
    return path, out / path.name


def test_student_fixture_stubs_clear_outputs_and_keep_checks(fixture_student):
    instructor_path, student_path = fixture_student
    instructor = nbformat.read(instructor_path, as_version=4)
    student = nbformat.read(student_path, as_version=4)
    assert len(student.cells) == len(instructor.cells)
    assert student.cells[4].source == textwrap.dedent('''\
        def root_point_t(w, x, b):
            """Return t such that f(x + t w) = 0."""
            # YOUR CODE HERE
            raise NotImplementedError()''')
    assert student.cells[5].source == "check.root_point_t(root_point_t)"
    assert student.cells[5].metadata["editable"] is False  # checks are read-only
    assert student.cells[5].metadata["tags"] == ["raises-exception"]  # "Run All" goes on
    assert "tags" not in student.cells[4].metadata
    assert 'w_, x_ = sympy.symbols("w x", real=True)' in student.cells[13].source
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_student_folder_has_what_students_need(fixture_student):
    _, student_path = fixture_student
    out = student_path.parent
    assert (out / "figure.png").read_bytes() == b"png"
    assert not (out / "sanitize.cfg").exists()
    assert "jupyter lab" in (out / "README.md").read_text()


def test_make_student_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    path = write_fixture(tmp_path / "notebooks")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="--force"):
        make_student.make_student([path], tmp_path / "mine")
    assert (tmp_path / "mine" / "precious.txt").exists()
    make_student.make_student([path], tmp_path / "out")
    make_student.make_student([path], tmp_path / "out")  # its own folder: replaced


def test_make_student_command_line(tmp_path, capsys):
    path = write_fixture(tmp_path / "notebooks")
    assert make_student.main(["--out", str(tmp_path / "student"), str(path)]) == 0
    assert (tmp_path / "student" / path.name).exists()
    assert "1 student notebook(s)" in capsys.readouterr().out


def test_fixture_no_solution_text_survives(fixture_student):
    instructor_path, student_path = fixture_student
    assert_no_solution_survives(nbformat.read(instructor_path, as_version=4),
                                nbformat.read(student_path, as_version=4))


def test_fixture_every_check_fails_on_its_stub_with_not_done_yet(fixture_student):
    _, student_path = fixture_student
    outcomes = stub_feedback_in_process(nbformat.read(student_path, as_version=4),
                                        student_path.parent.parent / "notebooks")
    assert len(outcomes) == 3
    for check, outcome in outcomes:
        assert "not done yet" in outcome, (check, outcome)


def test_stub_runner_reports_checks_that_would_not_say_not_done_yet(tmp_path):
    nb = nbgrader_metadata.add_nbgrader_metadata(fixture_notebook())
    nb.cells[5].source = "check.root_point_t(root_point_t, notebook_state)"  # needs more than fn
    nb.cells[11].source = "print('no checker called')"  # not a check cell any more
    nb = make_student.student_notebook(nbgrader_metadata.add_nbgrader_metadata(nb))
    (tmp_path / "fixture_checks.py").write_text(FIXTURE_CHECKS)
    outcomes = dict(stub_feedback_in_process(nb, tmp_path))
    assert outcomes == {
        "check.root_point_t(root_point_t, notebook_state)":
            "ERROR NameError: name 'notebook_state' is not defined",
        "check.linear_relevance(linear_relevance)": outcomes["check.linear_relevance(linear_relevance)"],
    }
    assert "not done yet" in outcomes["check.linear_relevance(linear_relevance)"]
    assert [check for _, check in exercises(nb)][1] is None  # the z_rule exercise lost its check


def test_fixture_checks_pass_on_the_instructor_solutions(fixture_student):
    instructor_path, _ = fixture_student
    outcomes = stub_feedback_in_process(nbformat.read(instructor_path, as_version=4),
                                        instructor_path.parent)
    assert [outcome for _, outcome in outcomes] == ["PASSED"] * 3


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


# --- the real notebooks ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_students(tmp_path_factory):
    if not NOTEBOOKS:
        pytest.skip("no notebooks/NN_*.ipynb yet")
    out = tmp_path_factory.mktemp("student")
    make_student.make_student(NOTEBOOKS, out / "student")
    return out / "student"


notebook_params = pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@notebook_params
def test_committed_notebook_has_up_to_date_nbgrader_metadata(notebook):
    committed = nbformat.read(notebook, as_version=4)
    retagged = nbgrader_metadata.add_nbgrader_metadata(nbformat.read(notebook, as_version=4))
    stale = [f"cell {index}: {cell.source.splitlines()[0] if cell.source else ''!r}"
             for index, (cell, wanted) in enumerate(zip(committed.cells, retagged.cells))
             if cell.metadata.get("nbgrader") != wanted.metadata.get("nbgrader")]
    assert not stale, (
        f"{notebook.name}: nbgrader metadata missing or stale in {stale}. Re-run "
        f"`python tools/run_notebooks.py {notebook.relative_to(REPO)}` (or "
        f"`python tools/nbgrader_metadata.py {notebook.relative_to(REPO)}`).")


@notebook_params
def test_notebook_has_at_least_three_checked_exercises(notebook):
    nb = nbgrader_metadata.add_nbgrader_metadata(nbformat.read(notebook, as_version=4))
    pairs = exercises(nb)
    unchecked = [exercise.source.splitlines()[0] for exercise, check in pairs if check is None]
    assert not unchecked, f"exercises without a check cell right after them: {unchecked}"
    if notebook.name.startswith("00_"):
        return  # the introduction may have fewer exercises
    assert len(pairs) >= 3, f"{notebook.name} has {len(pairs)} exercises, the convention is 3+"


@notebook_params
def test_no_solution_text_survives(notebook, real_students):
    assert_no_solution_survives(nbformat.read(notebook, as_version=4),
                                nbformat.read(real_students / notebook.name, as_version=4))


@notebook_params
def test_student_notebook_outputs_cleared_checks_kept(notebook, real_students):
    instructor = nbgrader_metadata.add_nbgrader_metadata(nbformat.read(notebook, as_version=4))
    student = nbformat.read(real_students / notebook.name, as_version=4)
    assert len(student.cells) == len(instructor.cells)
    for mine, theirs in zip(instructor.cells, student.cells):
        if theirs.cell_type == "code":
            assert theirs.outputs == [] and theirs.execution_count is None
        if not nbgrader_meta(mine).get("solution"):
            assert mine.source == theirs.source  # everything but the solutions is kept
        if nbgrader_meta(mine).get("grade"):
            assert "raises-exception" in theirs.metadata["tags"]


@notebook_params
def test_every_check_fails_on_its_stub_with_not_done_yet(notebook, real_students):
    student = nbformat.read(real_students / notebook.name, as_version=4)
    outcomes = stub_feedback_in_process(student, notebook.parent)
    wrong = [(check, outcome) for check, outcome in outcomes if "not done yet" not in outcome]
    assert not wrong, (
        "these checks do not answer a stub with the 'not done yet' feedback (a check cell should "
        "only call a checker with the exercise's function, and the checker should call it through "
        f"call_student):\n{wrong}")
