#!/usr/bin/env python
"""Execute notebooks in place, the way nbval will re-run them, and keep them clean.

    python tools/run_notebooks.py notebooks/01_taylor_decomposition.ipynb [...]

- runs each notebook top to bottom with this interpreter, in the notebook's folder;
- stops with the failing cell's error if a cell raises (unless it is tagged ``raises-exception``);
- strips what changes on every run and means nothing to a reader: saved widget state
  (``metadata.widgets``), execution timestamps; and clears widget *view* outputs' random ids
  from the comparison (nbval skips those anyway);
- writes the notebook back with a stable JSON layout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)  # widget state: new model ids on every run
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        seconds = run(path, args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
