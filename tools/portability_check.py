#!/usr/bin/env python
"""Portability check: do the notebooks' COMMITTED outputs survive other numerics?

    python tools/portability_check.py [--configs NAME,...] [NOTEBOOK ...]

nbval (``make test``) re-runs every notebook on *this* machine and compares with the committed
outputs. A printed digit or an assertion that only holds for this CPU's rounding passes there
and fails on a student's laptop or a CI runner. This check re-runs the notebooks under several
numerical configurations, each of which changes the floating-point rounding the way another
machine would, and requires nbval to pass against the committed outputs in every one of them:

    1-thread     TensorFlow and OpenBLAS on 1 thread (the order of parallel sums changes),
                 oneDNN kernels off (TensorFlow's Eigen kernels)
    4-threads    4 threads, TensorFlow's oneDNN kernels on
    onednn-on    TensorFlow's oneDNN kernels on (TF's default on Windows x86 and on Linux
                 CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX; off on others, e.g. the
                 course's AVX2 CI machine)
    onednn-off   oneDNN kernels off, the bit-reproducible setting (README)
    avx-cpu      the GEMM kernels of an AVX CPU without FMA (Sandy Bridge): oneDNN's and
                 OpenBLAS's run-time dispatch is capped at AVX (ONEDNN_MAX_CPU_ISA=AVX,
                 OPENBLAS_CORETYPE=SandyBridge). TensorFlow's Eigen matrix products call
                 oneDNN's sgemm even with TF_ENABLE_ONEDNN_OPTS=0, so this changes them too.
    sse41-cpu    the same capped at SSE4.1 (Nehalem), another blocking and no FMA
    xla          XLA auto-clustering of every TensorFlow graph (fused kernels)

An AVX-512 CPU (or ARM) cannot be emulated from below, but it differs from this one exactly the
way these do (other SIMD width -> other summation order and FMA use), so an output that holds in
all of them is very likely to hold there too, and an output that breaks in one of them is
fragile. ``--configs all`` (before a release) runs every single configuration. The default (what CI
runs) is two mixed configurations, ``mixed-a`` = 4-threads + sse41-cpu and ``mixed-b`` = 1-thread
+ xla: between them they change everything the four single ones change, in half the time.

Run it from the repository root (it uses the current working directory's notebooks and
notebooks/sanitize.cfg, and this interpreter, ``sys.executable``). It prints one row per
(configuration, notebook, cell) that failed, with the differing output, a summary per
configuration and notebook, and exits 1 if anything failed (2 on a usage error).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

#: Every variable a configuration may set. They are removed from the inherited environment
#: first, so each configuration is exactly what its entry says, whatever the caller's shell has.
CONTROLLED = (
    "LRP_TEACH_THREADS", "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "TF_XLA_FLAGS",
)

CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "reference": ("the course defaults, as `make test` runs them", {}),
    "1-thread": ("TensorFlow and OpenBLAS on 1 thread, oneDNN kernels off",
                 {"LRP_TEACH_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                  "TF_ENABLE_ONEDNN_OPTS": "0"}),
    "4-threads": ("4 threads, oneDNN kernels on",
                  {"LRP_TEACH_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "4",
                   "TF_ENABLE_ONEDNN_OPTS": "1"}),
    "onednn-on": ("TensorFlow's oneDNN kernels on", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    "onednn-off": ("TensorFlow's oneDNN kernels off", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "avx-cpu": ("GEMM kernels of an AVX CPU without FMA (oneDNN + OpenBLAS)",
                {"ONEDNN_MAX_CPU_ISA": "AVX", "OPENBLAS_CORETYPE": "SandyBridge"}),
    "sse41-cpu": ("GEMM kernels of an SSE4.1 CPU (oneDNN + OpenBLAS)",
                  {"ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"}),
    "xla": ("XLA auto-clustering of TensorFlow graphs",
            {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"}),
}
# Two configurations that each change several things at once, for CI: together they change
# everything the four single ones above change (thread count both ways, oneDNN on and off, the
# SSE4.1 GEMM kernels, XLA), in half the time. `--configs all` (a release) runs every one.
CONFIGS["mixed-a"] = (
    "4 threads, oneDNN kernels on, GEMM kernels of an SSE4.1 CPU",
    {**CONFIGS["4-threads"][1], **CONFIGS["sse41-cpu"][1]})
CONFIGS["mixed-b"] = (
    "1 thread, oneDNN kernels off, XLA auto-clustering",
    {**CONFIGS["1-thread"][1], **CONFIGS["xla"][1]})
DEFAULT_CONFIGS = ("mixed-a", "mixed-b")
#: what the default set replaced (four single changes), kept as a named set
SINGLE_CONFIGS = ("1-thread", "4-threads", "sse41-cpu", "xla")

SANITIZE = Path("notebooks") / "sanitize.cfg"
EXCERPT_LINES = 14


@dataclass
class CellResult:
    config: str
    notebook: str
    cell: int               # nbval's number: the index among the notebook's CODE cells
    passed: bool
    first_line: str = ""
    excerpt: list[str] = field(default_factory=list)


def config_environment(name: str, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    for var in CONTROLLED:
        env.pop(var, None)
    env.update(CONFIGS[name][1])
    return env


def code_cell_first_lines(notebook: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            source = [line for line in cell.source.splitlines() if line.strip()]
            lines.append(source[0].strip()[:60] if source else "")
    return lines


def nbval_command(notebooks: list[Path], junit: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
        "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
        f"--junitxml={junit}", "--color=no", "-vv", "--tb=short", "-rN", *map(str, notebooks),
    ]


def excerpt_of_failure(text: str) -> list[str]:
    """The informative part of nbval's failure text: the differing output lines, or the error.

    nbval reports differing outputs with pytest's string diff, in which ``- `` lines are the
    new (right-hand) output and ``+ `` lines the committed (left-hand) one; they are relabelled
    here so that nobody has to remember that.
    """
    lines = [re.sub(r"(\x1b|#x1B)\[[0-9;]*m", "", line) for line in text.splitlines()]
    marker = "assert reference_output == test_output failed:"
    if any(marker in line for line in lines):
        after = lines[next(i for i, line in enumerate(lines) if marker in line) + 1:]
        diff = []
        for line in after:
            body = line[2:] if line.startswith("  ") else line
            if body.startswith("+ "):
                diff.append("committed: " + body[2:])
            elif body.startswith("- "):
                diff.append("this run : " + body[2:])
        if diff:
            committed = [d for d in diff if d.startswith("committed")]
            new = [d for d in diff if d.startswith("this run")]
            return (committed[:EXCERPT_LINES // 2] + new[:EXCERPT_LINES // 2])
    meaningful = [line.rstrip() for line in lines if line.strip()]
    if any("Traceback:" == line.strip() for line in meaningful):  # other output mismatches
        meaningful = meaningful[[line.strip() for line in meaningful].index("Traceback:") + 1:]
    # A cell raised: keep the exception line(s) at the end of the traceback.
    errors = [i for i, line in enumerate(meaningful)
              if re.match(r"^\s*[\w.]*(Error|Exception)\b", line)]
    start = errors[-1] if errors else max(0, len(meaningful) - EXCERPT_LINES)
    return meaningful[start:start + EXCERPT_LINES]


def parse_junit(junit: Path, config: str, first_lines: dict[str, list[str]]) -> list[CellResult]:
    results = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        match = re.search(r"Cell (\d+)", name)
        if not match:
            continue
        cell = int(match.group(1))
        file = case.get("file") or ""
        notebook = Path(file).name if file else _notebook_from_classname(case.get("classname", ""))
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        lines = first_lines.get(notebook, [])
        result = CellResult(config, notebook, cell, problem is None,
                            lines[cell] if cell < len(lines) else "")
        if problem is not None:
            # the element's text is the full report; its message attribute a shortened copy
            result.excerpt = excerpt_of_failure(problem.text or problem.get("message") or "")
        results.append(result)
    return results


def _notebook_from_classname(classname: str) -> str:
    # e.g. "notebooks.03_z_plus_rule.ipynb" -> "03_z_plus_rule.ipynb"
    parts = classname.split(".")
    return ".".join(parts[-2:]) if parts[-1] == "ipynb" else classname


def children_cpu_seconds() -> float:
    """CPU time (user + system) of the finished child processes so far; 0 where unknown."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_config(config: str, notebooks: list[Path], first_lines, timeout: float):
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "nbval.xml"
        start = time.perf_counter()
        cpu_start = children_cpu_seconds()
        try:
            proc = subprocess.run(nbval_command(notebooks, junit), env=config_environment(config),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout)
            output = proc.stdout
        except subprocess.TimeoutExpired as exc:
            partial = exc.stdout or ""
            partial = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
            # the last cells nbval reported, then the reason
            output = f"{partial}\nnbval did not finish within {timeout:.0f} s (--timeout)"
        seconds = time.perf_counter() - start
        run_config.cpu_seconds = children_cpu_seconds() - cpu_start
        results = parse_junit(junit, config, first_lines) if junit.exists() else []
    if not results:  # pytest itself failed (collection error, missing plugin, timeout)
        tail = [line for line in output.splitlines() if line.strip()][-EXCERPT_LINES:]
        results = [CellResult(config, nb.name, -1, False, "(no cell results: nbval failed)", tail)
                   for nb in notebooks]
    return results, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Re-run notebooks under other numerics; nbval must pass against the "
                    "committed outputs in every configuration.",
        epilog="configurations:\n" + "\n".join(
            f"  {name:11s} {text}  {' '.join(f'{k}={v}' for k, v in env.items())}"
            for name, (text, env) in CONFIGS.items()) +
        f"\ndefault (CI): {','.join(DEFAULT_CONFIGS)}; 'all' (a release) = every single "
        f"configuration; 'single' = {','.join(SINGLE_CONFIGS)}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help="comma-separated configuration names (see below) or 'all'")
    # one hour: a single-thread configuration with XLA over all seven notebooks needs well over
    # half of that on 2 cores (EfficientNet-Lite0's explainers compile once per notebook)
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per configuration (all notebooks) before giving up")
    parser.add_argument("--shell-env", metavar="CONFIG",
                        help="print the configuration's variables as POSIX shell `export` lines "
                             "and exit (CI runs `make test` itself under one: .ci/run)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list every cell that passed")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: notebooks/[0-9][0-9]_*.ipynb under the current directory")
    args = parser.parse_args(argv)
    if args.shell_env:
        if args.shell_env not in CONFIGS:
            parser.error(f"unknown configuration {args.shell_env!r}; choose from {', '.join(CONFIGS)}")
        import shlex

        print("\n".join([f"unset {' '.join(CONTROLLED)}"] +
                        [f"export {k}={shlex.quote(v)}" for k, v in CONFIGS[args.shell_env][1].items()]))
        return 0

    named_sets = {"all": [c for c in CONFIGS if c not in DEFAULT_CONFIGS],
                  "single": list(SINGLE_CONFIGS)}
    configs = named_sets[args.configs] if args.configs in named_sets else \
        [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        parser.error(f"unknown configuration(s) {unknown}; choose from {', '.join(CONFIGS)} "
                     "or 'all'")
    notebooks = args.notebooks or sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(nb) for nb in notebooks if not nb.is_file()]
    if missing or not notebooks:
        parser.error(f"no such notebook(s): {missing or 'notebooks/[0-9][0-9]_*.ipynb'} -- run "
                     "from the repository root or name the .ipynb files")
    if not SANITIZE.is_file():
        parser.error(f"{SANITIZE} not found: run this from the repository root")
    first_lines = {nb.name: code_cell_first_lines(nb) for nb in notebooks}

    print(f"portability check: {len(notebooks)} notebook(s) x {len(configs)} configuration(s), "
          f"nbval against the committed outputs ({sys.executable})")
    all_results: list[CellResult] = []
    for config in configs:
        text, env = CONFIGS[config]
        settings = " ".join(f"{k}={v}" for k, v in env.items()) or "(no overrides)"
        print(f"\n[{config}] {text}: {settings}", flush=True)
        results, seconds = run_config(config, notebooks, first_lines, args.timeout)
        all_results += results
        failed = [r for r in results if not r.passed]
        print(f"  {len(results) - len(failed)} passed, {len(failed)} failed in {seconds:.0f} s "
              f"({run_config.cpu_seconds:.0f} s CPU time)", flush=True)
        for r in failed:  # at once, so a long run shows its findings as they come
            print(f"  FAIL {r.notebook} cell {r.cell}: {r.first_line}")
            for line in r.excerpt[:4]:
                print(f"       | {line[:150]}")

    failures = [r for r in all_results if not r.passed]
    shown = all_results if args.verbose else failures
    print("\n" + "=" * 100)
    print(f"{'configuration':12s} {'notebook':32s} {'cell':>4s}  result  first line of the cell")
    print("-" * 100)
    for r in shown:
        print(f"{r.config:12s} {r.notebook:32s} {r.cell:4d}  {'pass' if r.passed else 'FAIL':6s}  "
              f"{r.first_line}")
        for line in r.excerpt:
            print(f"{'':20s}| {line[:150]}")
    if not failures:
        print("(no failures)")
    print("-" * 100)
    print("summary (passed/total code cells):")
    notebook_names = [nb.name for nb in notebooks]
    print(f"{'':12s} " + " ".join(f"{name[:14]:>14s}" for name in notebook_names))
    for config in configs:
        row = []
        for name in notebook_names:
            cells = [r for r in all_results if r.config == config and r.notebook == name]
            ok = sum(r.passed for r in cells)
            row.append(f"{ok:>3d}/{len(cells):<3d}{'ok' if ok == len(cells) else 'FAIL':>8s}")
        print(f"{config:12s} " + " ".join(row))
    if failures:
        print(f"\nFAILED: {len(failures)} cell result(s) depend on the machine's numerics. Print "
              "only the digits the computation supports (INSTRUCTORS.md, 'Numbers that hold on "
              "every machine').")
        return 1
    print("\nOK: every committed output holds in every configuration.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
