"""The full nbgrader workflow an instructor may use (INSTRUCTORS.md, "Grading with nbgrader").

In a temporary course directory, with the environment's ``bin`` on ``PATH`` (nbgrader needs it):

- ``nbgrader generate_assignment`` accepts the fixture notebook and every real notebook, one
  assignment per week of the schedule (tools/course_schedule.py), and the released versions hold
  stubs instead of solutions;
- the weekly round trip on the real notebooks: ``autograde`` scores the untouched release 0 and
  the instructor's notebooks full marks (week 1 here, as every week is made the same way: the
  later weeks run a trained network, VGG16, EfficientNet, and would add minutes to make test;
  their release is checked above);
- ``nbgrader autograde`` scores an untouched student version 0 and the instructor's solutions full
  marks (each check cell is one point);
- nbval is unaffected by the nbgrader metadata (it compares outputs only): a notebook executed by
  tools/run_notebooks.py, metadata included, passes ``pytest --nbval``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from exercise_helpers import (
    NOTEBOOKS,
    _load_tool,
    REPO,
    SOLUTION_LINEAR,
    SOLUTION_ROOT_POINT,
    SOLUTION_Z_RULE,
    assert_no_solution_survives,
    write_fixture,
)

run_notebooks = _load_tool("run_notebooks")
course_schedule = _load_tool("course_schedule")
#: weeks whose notebooks run in about a minute: their autograde round trip is part of make test
AUTOGRADED_WEEKS = ("week1",)
#: what INSTRUCTORS.md tells instructors to pass to autograde: nbgrader's defaults give a cell's
#: printed output 4 s after it ran (raise_on_iopub_timeout), less than importing TensorFlow can
#: take on a busy machine
AUTOGRADE_TIMEOUTS = ("--Execute.timeout=900", "--Execute.iopub_timeout=120")
BIN = Path(sys.executable).parent  # the environment's bin/: nbgrader, jupyter, the kernel

pytestmark = pytest.mark.slow


def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def start_nbgrader(course: Path, *args: str) -> subprocess.Popen:
    executable = shutil.which("nbgrader", path=str(BIN))
    if executable is None:
        pytest.fail(f"nbgrader is not installed in {BIN}: `pip install -e '.[dev]'` (make install)")
    return subprocess.Popen([executable, *args, f"--CourseDirectory.root={course}"], cwd=course,
                            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(process: subprocess.Popen, hint: str = "", timeout: int = 600) -> None:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, (
        f"nbgrader {' '.join(map(str, process.args[1:3]))} failed:\n{stderr[-4000:]}\n{hint}")


COURSE_HINT = ("Hint: 'Solution region detected in a non-solution cell' means a notebook lacks its "
               "nbgrader metadata: run `python tools/run_notebooks.py notebooks/NN_x.ipynb` (or "
               "tools/nbgrader_metadata.py) on it.")


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    """generate_assignment on the fixture and on the course notebooks, both at once."""
    fixture_course = tmp_path_factory.mktemp("fixture_course")
    write_fixture(fixture_course / "source" / "ps1", "01_fixture.ipynb")
    running = {"fixture": (fixture_course,
                           start_nbgrader(fixture_course, "generate_assignment", "ps1"))}
    if NOTEBOOKS:
        course = tmp_path_factory.mktemp("course")
        weeks = course_schedule.write_nbgrader_course(course, NOTEBOOKS)
        # one process at a time (nbgrader takes seconds to import): the weeks in a row
        script = ("import subprocess, sys\n"
                  "for week in sys.argv[2:]:\n"
                  "    subprocess.run([sys.argv[1], 'generate_assignment', week,\n"
                  f"                    '--CourseDirectory.root={course}'], check=True)\n")
        executable = shutil.which("nbgrader", path=str(BIN))
        running["course"] = (course, subprocess.Popen(
            [sys.executable, "-c", script, str(executable), *weeks], cwd=course,
            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        running["course"][1].weeks = weeks
    yield running
    for _, process in running.values():  # e.g. a test deselected with -k: do not leave it running
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def fixture_course(courses) -> Path:
    course, process = courses["fixture"]
    finish(process)
    return course


def test_generate_assignment_releases_stubs(fixture_course):
    released = fixture_course / "release" / "ps1" / "01_fixture.ipynb"
    assert (fixture_course / "release" / "ps1" / "fixture_checks.py").exists()
    student = nbformat.read(released, as_version=4)
    source = "\n".join(cell.source for cell in student.cells)
    for line in (SOLUTION_ROOT_POINT, *SOLUTION_Z_RULE, SOLUTION_LINEAR):
        assert line not in source
    assert source.count("raise NotImplementedError()") == 3
    for check in ("root_point_t", "z_rule", "linear_relevance"):
        assert f"check.{check}({check})" in source


def test_autograde_scores_stubs_zero_and_solutions_full_marks(fixture_course):
    from nbgrader.api import Gradebook

    for student, folder in (("stub", "release"), ("solved", "source")):
        shutil.copytree(fixture_course / folder / "ps1",
                        fixture_course / "submitted" / student / "ps1")
    finish(start_nbgrader(fixture_course, "autograde", "ps1", "--create"))
    with Gradebook(f"sqlite:///{fixture_course / 'gradebook.db'}") as gradebook:
        stub = gradebook.find_submission("ps1", "stub")
        solved = gradebook.find_submission("ps1", "solved")
        assert (stub.score, stub.max_score) == (0, 3)
        assert (solved.score, solved.max_score) == (3, 3)
    graded = nbformat.read(fixture_course / "autograded" / "stub" / "ps1" / "01_fixture.ipynb",
                           as_version=4)
    errors = [output for cell in graded.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert len(errors) == 3 and all("not done yet" in error.evalue for error in errors)


@pytest.fixture(scope="module")
def weekly_course(courses):
    course, process = courses["course"]
    weeks = process.weeks
    finish(process, COURSE_HINT)
    return course, weeks


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks/NN_*.ipynb yet")
def test_generate_assignment_per_week_on_the_course_notebooks(weekly_course):
    course, weeks = weekly_course
    assert list(weeks) == [f"week{n}" for n in range(1, 5)]
    released_names = [name for names in weeks.values() for name in names]
    assert sorted(released_names) == [nb.name for nb in NOTEBOOKS]  # each notebook in one week
    for week, names in weeks.items():
        for name in names:
            released = course / "release" / week / name
            assert released.exists(), f"{name} was not released in {week}"
            assert_no_solution_survives(nbformat.read(REPO / "notebooks" / name, as_version=4),
                                        nbformat.read(released, as_version=4))


def _check_cells(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(bool(cell.metadata.get("nbgrader", {}).get("grade")) for cell in nb.cells)


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks/NN_*.ipynb yet")
@pytest.mark.parametrize("week", AUTOGRADED_WEEKS)
def test_weekly_autograde_scores_the_release_zero_and_the_solutions_full(weekly_course, week):
    from nbgrader.api import Gradebook

    course, weeks = weekly_course
    points = sum(_check_cells(REPO / "notebooks" / name) for name in weeks[week])
    assert points >= 3, f"{week} grades {points} check cells"
    for student, folder in (("stub", "release"), ("solved", "source")):
        shutil.copytree(course / folder / week, course / "submitted" / student / week)
    finish(start_nbgrader(course, "autograde", week, "--create", *AUTOGRADE_TIMEOUTS),
           timeout=1200)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        stub = gradebook.find_submission(week, "stub")
        solved = gradebook.find_submission(week, "solved")
        assert (stub.score, stub.max_score) == (0, points)
        assert (solved.score, solved.max_score) == (points, points)


def test_nbval_passes_on_a_notebook_with_nbgrader_metadata(tmp_path):
    path = write_fixture(tmp_path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, path)
    run_notebooks.run(path, timeout=600)  # executes in place; its clean() adds the metadata
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[5].metadata["nbgrader"]["grade"] is True
    assert nb.cells[5].outputs[0]["text"] == "✔ root_point_t: correct.\n"  # and nothing else
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the course's addopts
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval",
         "--nbval-current-env", "--nbval-sanitize-with", str(REPO / "notebooks" / "sanitize.cfg"),
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(path)],
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout
