"""Reproducible tests: no random seed may come from ``hash()``.

``hash()`` of a str/bytes (and of tuples containing them) is salted per process
(``PYTHONHASHSEED``), so a test seeded from it draws different data on every run: a failure
cannot be reproduced, and a pass says nothing about the next run. Seeds must be constants, an
explicit index, or a stable checksum such as ``zlib.crc32``.

This is an AST lint over the tests, the package, the tools and the benchmarks. It flags
* a call to ``hash()`` anywhere inside the arguments of a seeding call (``default_rng``,
  ``np.random.seed``, ``random.seed``, ``RandomState``, ``tf.random.set_seed``,
  ``keras.utils.set_random_seed``, ``SeedSequence``, ...) or of any ``seed=`` keyword;
* a name containing ``seed`` assigned from an expression that calls ``hash()``.
A ``__hash__`` method that returns ``hash(...)`` is not seeding and is not flagged.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED_FOLDERS = ("tests", "lrp_teach", "tools", "benchmarks")
SEEDING_CALLS = {"default_rng", "seed", "RandomState", "set_seed", "set_random_seed",
                 "SeedSequence", "Generator", "PCG64", "MT19937", "Random", "manual_seed"}


def _calls_hash(node: ast.AST) -> ast.Call | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "hash":
            return sub
    return None


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def hash_seeded_lines(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, reason) for every place in ``source`` where a seed is derived from ``hash()``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in SEEDING_CALLS:
                for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                    if (bad := _calls_hash(arg)) is not None:
                        found.append((bad.lineno, f"{name}(...) seeded from hash()"))
            else:
                for kw in node.keywords:
                    if kw.arg and "seed" in kw.arg.lower() and (bad := _calls_hash(kw.value)):
                        found.append((bad.lineno, f"{kw.arg}= seeded from hash()"))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if node.value is not None and any("seed" in n.lower() for n in names) \
                    and (bad := _calls_hash(node.value)) is not None:
                found.append((bad.lineno, f"{names[0]} = ... hash() ..."))
    return sorted(set(found))


def python_files():
    for folder in CHECKED_FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_test_or_package_file_seeds_from_hash():
    problems = []
    for path in python_files():
        for line, reason in hash_seeded_lines(path.read_text(encoding="utf-8"), str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {reason}")
    assert not problems, (
        "seeds derived from hash() change with PYTHONHASHSEED on every process, so the test data "
        "differ from run to run; use a constant, an index or zlib.crc32(text.encode()):\n  "
        + "\n  ".join(problems))


@pytest.mark.parametrize("source", [
    "rng = np.random.default_rng(abs(hash((repr(rule), kind))) % 2**32)",
    "np.random.seed(hash('x') % 1000)",
    "random.seed(hash(name))",
    "tf.random.set_seed(hash(k))",
    "data = make(seed=hash(label) % 7)",
    "case_seed = 3 + hash(label)",
])
def test_the_lint_flags_hash_seeding(source):
    assert [line for line, _ in hash_seeded_lines(source)] == [1]


@pytest.mark.parametrize("source", [
    "rng = np.random.default_rng(zlib.crc32(repr(rule).encode()))",
    "np.random.seed(0)",
    "class Rule:\n    def __hash__(self):\n        return hash(self.key())",
    "index = {hash(k): k for k in keys}",
])
def test_the_lint_accepts_stable_seeds_and_plain_hashing(source):
    assert hash_seeded_lines(source) == []


# --------------------------------------------------------------------------------------------
# The numerical configuration is the user's to choose, through the environment
# --------------------------------------------------------------------------------------------

def test_thread_count_comes_from_the_environment(monkeypatch):
    from lrp_teach.setup import DEFAULT_THREADS, threads_from_environment

    monkeypatch.delenv("LRP_TEACH_THREADS", raising=False)
    assert threads_from_environment() == DEFAULT_THREADS == 2
    monkeypatch.setenv("LRP_TEACH_THREADS", "1")
    assert threads_from_environment() == 1
    for bad in ("0", "-2", "four", "1.5"):
        monkeypatch.setenv("LRP_TEACH_THREADS", bad)
        with pytest.raises(ValueError, match=f"LRP_TEACH_THREADS='{bad}'.*LRP_TEACH_THREADS=4"):
            threads_from_environment()


def test_onednn_is_left_to_tensorflow_and_the_users_setting_wins():
    """TensorFlow picks the kernels (oneDNN on by default on Windows x86 and on Linux CPUs with
    AVX-512 VNNI/BF16, AVX-VNNI or AMX); the user's own setting wins, e.g. off for
    bit-reproducibility."""
    import subprocess
    import sys

    code = ("import os, lrp_teach; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
            "os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS",
                                                           "TF_CPP_MIN_LOG_LEVEL")}
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert unset.stdout.split() == ["None", "3"], unset.stderr
    chosen = subprocess.run([sys.executable, "-c", code], env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"},
                            capture_output=True, text=True)
    assert chosen.stdout.split() == ["0", "3"], chosen.stderr
