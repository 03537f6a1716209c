#!/usr/bin/env python
"""Execute notebooks in place, the way nbval will re-run them, and keep them clean.

    python course.py notebooks notebooks/01_taylor_decomposition.ipynb [...]   # = make notebooks
    python tools/run_notebooks.py --normalize-only notebooks/*.ipynb   # rewrite, run nothing

- runs each notebook top to bottom with this interpreter, in the notebook's folder;
- stops with the failing cell's error if a cell raises (unless it is tagged ``raises-exception``);
- strips what changes on every run and means nothing to a reader: saved widget state
  (``metadata.widgets``), execution timestamps; and clears widget *view* outputs' random ids
  from the comparison (nbval skips those anyway);
- merges consecutive stream outputs of the same stream (stdout, stderr) into one: how a cell's
  printed text is split into pieces depends on the timing of the kernel's messages, so
  without this an unchanged notebook comes back with other "outputs" entries every run;
- writes the notebook back with a stable JSON layout.

``--normalize-only`` applies the same cleaning to the notebooks as saved, without executing
them (nbval compares the merged text exactly like the split one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same name (stdout / stderr) as one output."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream"
                and previous.get("name") == output.get("name")):
            previous["text"] = _text(previous["text"]) + _text(output["text"])
        else:
            merged.append(output)
    return merged


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)  # widget state: new model ids on every run
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)
            cell.outputs = merge_streams(cell.get("outputs", []))
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    info = nb.metadata.get("language_info", {})
    nb.metadata["language_info"] = {"name": info.get("name", "python")}
    # Exercise cells -> nbgrader solution cells, their check cells -> grade cells (INSTRUCTORS.md).
    if str(Path(__file__).resolve().parent) not in sys.path:  # also when imported from elsewhere
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    from nbgrader_metadata import add_nbgrader_metadata  # tools/nbgrader_metadata.py

    add_nbgrader_metadata(nb)
    return nb


def run(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,
        allow_errors=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(clean(nb), path)
    return seconds


def normalize(path: Path) -> bool:
    """Apply ``clean`` to a saved notebook without running it; True if the file changed."""
    before = path.read_bytes()
    nbformat.write(clean(nbformat.read(path, as_version=4)), path)
    return path.read_bytes() != before


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--normalize-only", action="store_true",
                        help="do not execute: only merge stream outputs, strip widget state and "
                             "timestamps, add the nbgrader metadata (idempotent)")
    args = parser.parse_args(argv)
    if args.normalize_only:
        for path in args.notebooks:
            print(f"{path}: {'normalized' if normalize(path) else 'already normal'}")
        return 0
    for path in args.notebooks:
        seconds = run(path, args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
