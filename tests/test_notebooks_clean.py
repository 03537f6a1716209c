"""Committed notebooks are clean: executed, no widget state, setup cell first, numbered names."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_course_has_its_notebooks_in_order():
    names = [p.name for p in NOTEBOOKS]
    assert names and names[0] == "00_setup.ipynb", names
    numbers = [int(n[:2]) for n in names]
    assert numbers == sorted(set(numbers)), "notebook numbers must be unique and ordered"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", n) for n in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_and_executed(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in notebook["metadata"], \
        "saved widget state changes on every run: run tools/run_notebooks.py to strip it"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    never_run = [i for i, c in enumerate(code) if "".join(c["source"]).strip()
                 and c.get("execution_count") is None]
    assert not never_run, f"code cells {never_run} were never executed: nbval compares nothing there"
    first = code[0]
    assert "setup_notebook(" in "".join(first["source"]), \
        "the first code cell must call lrp_teach.setup_notebook()"
    assert "nbval-ignore-output" in first.get("metadata", {}).get("tags", [])
    for cell in code:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", "a committed cell ends in an error"
            if output.get("name") == "stderr":
                assert "nbval-ignore-output" in cell["metadata"].get("tags", []), \
                    f"stderr output in a compared cell: {''.join(output['text'])[:200]}"
