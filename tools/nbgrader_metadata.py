#!/usr/bin/env python
"""Give the course's exercise cells the nbgrader metadata they need (authors write none by hand).

Notebook authors only write the exercise convention (see INSTRUCTORS.md)::

    def root_point_t(w, x, b):              # the exercise cell
        ### BEGIN SOLUTION
        return -(w @ x + b) / (w @ w)
        ### END SOLUTION

    check.root_point_t(root_point_t)         # the check cell, the next code cell

nbgrader's ``ClearSolutions`` refuses a solution region in a cell that is not marked as a solution
cell, and its autograder only scores cells marked as grade cells. :func:`add_nbgrader_metadata`
adds that marking (cell metadata ``nbgrader``, schema version 3):

- exercise cell: ``solution=true, grade=false, locked=false``, ``grade_id`` ``nbNN-<function>``;
- check cell:    ``grade=true, points=1, locked=true, solution=false``, ``grade_id``
  ``nbNN-<function>-check`` (locked: students cannot edit the check);
- every other code cell: no nbgrader metadata (stale metadata is removed, so a cell whose markers
  were deleted can never be wiped as a "solution cell");
- markdown cells: left as they are (an instructor may mark written answers by hand).

``nbNN`` is the checker module the notebook imports (``from lrp_teach.exercises import nb03 as
check``), so the ids depend only on the notebook's content: the function is deterministic and
idempotent, and ``tools/run_notebooks.py`` applies it to every notebook it executes.

    python tools/nbgrader_metadata.py notebooks/03_z_plus_rule.ipynb   # tag in place
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

BEGIN = "BEGIN SOLUTION"  # what nbgrader's ClearSolutions looks for (anywhere in a line)
END = "END SOLUTION"
SCHEMA_VERSION = 3
CHECK_POINTS = 1

_CHECKER_IMPORT = re.compile(
    r"^\s*(?:from\s+lrp_teach\.exercises\s+import\s+(nb\w+)(?:\s+as\s+(\w+))?"
    r"|import\s+lrp_teach\.exercises\.(nb\w+)\s+as\s+(\w+))",
    re.MULTILINE,
)
_FUNCTION = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(", re.MULTILINE)
_INVALID_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_\-]")


class MetadataError(ValueError):
    """A notebook's exercise markers cannot be turned into valid nbgrader metadata."""


def _checker_imports(nb) -> tuple[str | None, set[str]]:
    """The checker module's name (``nb03``) and the names it is imported as (``check``)."""
    module, aliases = None, {"check"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _CHECKER_IMPORT.finditer(cell.source):
            name = match.group(1) or match.group(3)
            module = module or name
            aliases.add(match.group(2) or match.group(4) or name)
    return module, aliases


def _has_solution_region(source: str) -> bool:
    return any(BEGIN in line for line in source.splitlines())


def _is_check_cell(source: str, aliases: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(alias)}\.\w+\s*\(", source) for alias in aliases)


def _checker_name(source: str, aliases: set[str]) -> str | None:
    for alias in sorted(aliases):
        match = re.search(rf"\b{re.escape(alias)}\.(\w+)\s*\(", source)
        if match:
            return match.group(1)
    return None


def _validate_markers(source: str, where: str) -> None:
    depth = 0
    for line in source.splitlines():
        if BEGIN in line:
            if depth:
                raise MetadataError(f"{where}: a second '### {BEGIN}' before '### {END}'. Close "
                                    "each solution region before opening the next.")
            depth = 1
        elif END in line:
            if not depth:
                raise MetadataError(f"{where}: '### {END}' without a '### {BEGIN}' above it.")
            depth = 0
    if depth:
        raise MetadataError(f"{where}: '### {BEGIN}' is never closed. Add '### {END}' after "
                            "the solution lines.")


def _unique(grade_id: str, used: set[str]) -> str:
    candidate, number = grade_id, 2
    while candidate in used:
        candidate, number = f"{grade_id}_{number}", number + 1
    used.add(candidate)
    return candidate


def nbgrader_cell_metadata(grade_id: str, *, solution: bool = False, grade: bool = False,
                           locked: bool = False, points: float | None = None) -> dict:
    """One cell's ``metadata["nbgrader"]`` in nbgrader's schema version 3."""
    meta = {"schema_version": SCHEMA_VERSION, "grade": grade, "solution": solution,
            "locked": locked, "grade_id": grade_id}
    if grade:
        meta["points"] = CHECK_POINTS if points is None else points
    return meta


def add_nbgrader_metadata(nb: nbformat.NotebookNode, notebook_id: str | None = None
                          ) -> nbformat.NotebookNode:
    """Mark exercise cells as nbgrader solution cells and their check cells as grade cells.

    Modifies ``nb`` in place and returns it. ``notebook_id`` prefixes every ``grade_id``; by
    default it is the checker module the notebook imports (``nb03``), else ``"nb"``.
    Raises :class:`MetadataError` for unbalanced markers or markers in a markdown cell.
    """
    module, aliases = _checker_imports(nb)
    prefix = _INVALID_ID_CHARACTERS.sub("_", notebook_id or module or "nb")
    used: set[str] = set()
    check_cells: dict[int, str] = {}  # cell index -> grade id of the exercise it checks
    exercise_number = 0

    for index, cell in enumerate(nb.cells):
        where = f"cell {index}"
        if cell.cell_type != "code":
            if _has_solution_region(cell.source) and "nbgrader" not in cell.metadata:
                raise MetadataError(
                    f"{where} ({cell.cell_type}) contains '{BEGIN}'. nbgrader would treat it as "
                    "a written-answer solution region. Reword the text (e.g. write `BEGIN` and "
                    "`SOLUTION` apart, or describe 'the solution markers'), or mark the cell as "
                    "a manually graded answer in nbgrader's Create Assignment toolbar.")
            continue
        if index in check_cells:
            cell.metadata["nbgrader"] = nbgrader_cell_metadata(
                _unique(f"{check_cells[index]}-check", used), grade=True, locked=True,
                points=CHECK_POINTS)
            continue
        _validate_markers(cell.source, where)
        if not _has_solution_region(cell.source):
            cell.metadata.pop("nbgrader", None)  # stale marking from an earlier version
            continue

        exercise_number += 1
        # the check cell: the next code cell, if it calls a checker
        following = next((j for j in range(index + 1, len(nb.cells))
                          if nb.cells[j].cell_type == "code"), None)
        is_checked = (following is not None
                      and not _has_solution_region(nb.cells[following].source)
                      and _is_check_cell(nb.cells[following].source, aliases))
        functions = _FUNCTION.findall(cell.source)
        name = (functions[0] if functions
                else is_checked and _checker_name(nb.cells[following].source, aliases)
                or f"exercise{exercise_number}")
        grade_id = _unique(f"{prefix}-{_INVALID_ID_CHARACTERS.sub('_', name)}", used)
        cell.metadata["nbgrader"] = nbgrader_cell_metadata(grade_id, solution=True)
        if is_checked:
            check_cells[following] = grade_id
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(add_nbgrader_metadata(nb), path)
        print(f"{path}: nbgrader metadata added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
