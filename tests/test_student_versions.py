"""Student versions (tools/make_student.py) and the nbgrader metadata (tools/nbgrader_metadata.py).

Run on a small fixture notebook written here (so these tests mean something whatever notebooks
exist) and on every real ``notebooks/NN_*.ipynb``:

- the metadata tagger marks exercise cells as solution cells and their check cells as grade
  cells, with unique ids; idempotent; the committed notebooks carry up-to-date metadata;
- the student version keeps every cell but no solution line and no output;
- every exercise's check fails on the stub with the friendly "not done yet".
"""

from __future__ import annotations

import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from exercise_helpers import (
    REPO,
    NOTEBOOKS,
    _load_tool,
    nbgrader_metadata,
    make_student,
    FIXTURE_CHECKS,
    fixture_notebook,
    write_fixture,
    nbgrader_meta,
    exercises,
    stub_feedback_in_process,
    assert_no_solution_survives,
)


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
    readme = (out / "README.md").read_text()
    assert f"python course.py lab --notebook-dir={out.name}" in readme   # works on Windows too
    assert ".venv/bin" not in readme


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
