"""tools/run_notebooks.py's normaliser: an unchanged notebook re-executed comes back unchanged."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from exercise_helpers import NOTEBOOKS, _load_tool

run_notebooks = _load_tool("run_notebooks")


def _split_stream_notebook():
    cell = new_code_cell("for i in range(3): print(i)")
    cell.outputs = [new_output("stream", name="stdout", text="0\n"),
                    new_output("stream", name="stdout", text=["1\n", "2\n"]),
                    new_output("stream", name="stderr", text="warning\n"),
                    new_output("stream", name="stdout", text="3\n"),
                    new_output("stream", name="stdout", text="4\n")]
    nb = new_notebook(cells=[cell])
    nb.metadata["widgets"] = {"state": {"model-id": {}}}
    return nb


def test_consecutive_stream_outputs_of_one_name_are_merged():
    nb = run_notebooks.clean(_split_stream_notebook())
    outputs = nb.cells[0].outputs
    # stdout, stderr, stdout: the order in which a reader sees the text is kept
    assert [(o["name"], o["text"]) for o in outputs] == [
        ("stdout", "0\n1\n2\n"), ("stderr", "warning\n"), ("stdout", "3\n4\n")]
    assert "widgets" not in nb.metadata


def test_normalizing_twice_changes_nothing(tmp_path):
    path = tmp_path / "split.ipynb"
    nbformat.write(_split_stream_notebook(), path)
    assert run_notebooks.normalize(path) is True      # merged the split streams
    once = path.read_bytes()
    assert run_notebooks.normalize(path) is False     # nothing left to do
    assert path.read_bytes() == once


def test_normalize_only_on_the_course_notebooks_is_idempotent(tmp_path):
    for source in NOTEBOOKS[:3]:
        path = tmp_path / source.name
        path.write_bytes(source.read_bytes())
        run_notebooks.main(["--normalize-only", str(path)])
        once = path.read_bytes()
        run_notebooks.main(["--normalize-only", str(path)])
        assert path.read_bytes() == once, source.name
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            outputs = cell.get("outputs", [])
            for previous, output in zip(outputs, outputs[1:]):
                assert not (previous.get("output_type") == output.get("output_type") == "stream"
                            and previous["name"] == output["name"]), f"{source.name}: split stream"
