#!/usr/bin/env python
"""The course as a four-week module: which notebooks each week, and one nbgrader assignment per week.

    python course.py schedule                        # print the schedule (the table in INSTRUCTORS.md)
    python course.py schedule --nbgrader-course DIR  # DIR/source/week1 ... week4, ready for
                                                     # `nbgrader generate_assignment week1`

``WEEKS`` below is the one place that maps weeks to notebooks, by number: a notebook that exists
(``notebooks/06_*.ipynb``) is picked up by its number, one that does not is left out, and a
notebook that no week names is an error (``assign_notebooks``), so that a new notebook cannot
be forgotten.

Working time per notebook is an ESTIMATE from the notebook's content, not a measurement with
students: reading the prose at 150 words a minute, 1.5 minutes per code cell (read it, run it,
look at the output), 20 minutes per exercise (write, check, fix). ``estimate`` computes it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"

#: week -> (topic, the notebooks' numbers). The nbgrader assignment of week N is "weekN".
WEEKS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("Setup; explaining one neuron: Taylor decomposition and root points", ("00", "01", "02")),
    2: ("The z⁺ rule, from a neuron to a network", ("03",)),
    3: ("LRP layer by layer on a trained network; evaluating explanations", ("04",)),
    4: ("LRP on real networks: VGG16 and EfficientNet-Lite0", ("05", "06")),
}

WORDS_PER_MINUTE = 150
MINUTES_PER_CODE_CELL = 1.5
MINUTES_PER_EXERCISE = 20


@dataclass
class Estimate:
    words: int
    code_cells: int
    exercises: int

    @property
    def minutes(self) -> int:
        raw = (self.words / WORDS_PER_MINUTE + self.code_cells * MINUTES_PER_CODE_CELL
               + self.exercises * MINUTES_PER_EXERCISE)
        return int(5 * round(raw / 5))  # to 5 minutes: the estimate is no finer than that


def estimate(nb: nbformat.NotebookNode) -> Estimate:
    words = sum(len(re.findall(r"\w+", cell.source)) for cell in nb.cells
                if cell.cell_type == "markdown")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    exercises = sum("BEGIN SOLUTION" in cell.source for cell in code)
    return Estimate(words, len(code), exercises)


def assign_notebooks(notebooks: list[Path] | None = None) -> dict[int, list[Path]]:
    """week -> its notebooks that exist. Raises if a notebook belongs to no week."""
    notebooks = sorted((REPO / "notebooks").glob(NOTEBOOK_PATTERN)) if notebooks is None \
        else notebooks
    by_number = {path.name[:2]: path for path in notebooks}
    scheduled = {number for _, numbers in WEEKS.values() for number in numbers}
    forgotten = sorted(set(by_number) - scheduled)
    if forgotten:
        raise SystemExit(f"notebook(s) {', '.join(by_number[n].name for n in forgotten)} belong "
                         "to no week: add the number to WEEKS in tools/course_schedule.py")
    return {week: [by_number[n] for n in numbers if n in by_number]
            for week, (_, numbers) in WEEKS.items()}


def check_cells(nb: nbformat.NotebookNode) -> int:
    """The points a notebook gives in nbgrader (one per check cell)."""
    sys.path.insert(0, str(REPO / "tools"))
    from nbgrader_metadata import add_nbgrader_metadata

    nb = add_nbgrader_metadata(nbformat.from_dict(nb))
    return sum(bool(cell.metadata.get("nbgrader", {}).get("grade")) for cell in nb.cells)


def schedule_table(notebooks: list[Path] | None = None) -> str:
    """The schedule as a Markdown table (INSTRUCTORS.md shows this table)."""
    rows = ["| week | nbgrader assignment | notebook | exercises graded (points) | "
            "estimated working time |", "|---|---|---|---|---|"]
    for week, paths in assign_notebooks(notebooks).items():
        for index, path in enumerate(paths):
            nb = nbformat.read(path, as_version=4)
            guess = estimate(nb)
            first = index == 0
            rows.append(f"| {week if first else ''} | {'week' + str(week) if first else ''} | "
                        f"`{path.name}` | {guess.exercises} ({check_cells(nb)}) | "
                        f"{guess.minutes // 60} h {guess.minutes % 60:02d} min |")
    return "\n".join(rows)


def write_nbgrader_course(course: Path, notebooks: list[Path] | None = None) -> dict[str, list[str]]:
    """``course/source/weekN/`` with that week's notebooks; returns assignment -> notebook names.
    Files the notebooks read (``data/``) are found by the installed ``lrp_teach`` itself."""
    assignments = {}
    for week, paths in assign_notebooks(notebooks).items():
        if not paths:
            continue
        folder = course / "source" / f"week{week}"
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shutil.copy2(path, folder / path.name)
        assignments[f"week{week}"] = [path.name for path in paths]
    return assignments


TABLE_START = "<!-- schedule table: written by `python course.py schedule --update-instructors` -->"
TABLE_END = "<!-- end of the schedule table -->"


def update_instructors(path: Path = REPO / "INSTRUCTORS.md") -> bool:
    """Rewrite the schedule table in INSTRUCTORS.md (between its markers); True if it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    new = text[:start] + "\n" + schedule_table() + "\n" + text[end:]
    path.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nbgrader-course", type=Path, metavar="DIR",
                        help="write DIR/source/weekN/ (one nbgrader assignment per week)")
    parser.add_argument("--update-instructors", action="store_true",
                        help="rewrite the schedule table in INSTRUCTORS.md (after adding a notebook)")
    args = parser.parse_args(argv)
    print(schedule_table())
    if args.update_instructors:
        print("INSTRUCTORS.md: " + ("table updated" if update_instructors() else "up to date"))
    if args.nbgrader_course:
        assignments = write_nbgrader_course(args.nbgrader_course)
        print(f"\nnbgrader course in {args.nbgrader_course}: assignments "
              f"{', '.join(assignments)}. In that folder, for each week:")
        print("    nbgrader generate_assignment week1     # -> release/week1/ for the students")
        print("    nbgrader autograde week1 --create --Execute.timeout=900 --Execute.iopub_timeout=120")
    return 0


if __name__ == "__main__":
    sys.exit(main())
