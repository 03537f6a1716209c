"""Mutation check of the engine's tests: apply one-line bugs to a scratch copy of the package,
run the engine's fast tests on each, and report which test caught it (or that it survived).

    .venv/bin/python tools/mutation_check.py              # every mutant (~1-3 min each on 2 cores)
    .venv/bin/python tools/mutation_check.py --list       # the mutants, nothing run
    .venv/bin/python tools/mutation_check.py M03 M07      # some of them
    .venv/bin/python tools/mutation_check.py --markdown   # the result as a table (tests/README.md)

Each mutant replaces ONE exact piece of source text (it must occur exactly once, else the
mutant is reported as stale: the code moved on and the list needs updating). The work tree is
never touched: the package and the tests are copied to a temporary folder, the mutant is
applied there, and pytest runs there (``import lrp_teach`` then finds the copy; the script
checks that). Each mutant first runs the one test expected to catch it (``Mutant.first``); only if
that passes does the whole list :data:`TESTS` run (pytest ``-x``: it stops at the first
failure). ``--jobs N`` tests N mutants at once, each in its own copy. Not part of
``make test``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the tests run on every mutant, in this order (the comparisons with the independent reference
#: first: they catch most mutants; pytest -x stops at the first failure)
TESTS = ["tests/test_reference.py::test_engine_matches_reference_on_graphs",
         "tests/test_reference.py::test_engine_matches_reference_on_chains",
         "tests/test_reference.py::test_engine_matches_reference_with_nonnegative_images",
         "tests/test_reference.py::test_engine_matches_reference_on_graphs_with_nonnegative_images",
         "tests/test_rules.py", "tests/test_engine.py",
         "tests/test_canonizers.py", "tests/test_engine_errors.py"]


GRAPHS = "tests/test_reference.py::test_engine_matches_reference_on_graphs"
CHAINS = "tests/test_reference.py::test_engine_matches_reference_on_chains"


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str
    old: str
    new: str
    what: str
    #: an equivalent mutant (same results, e.g. less pruning = only slower): SHOULD survive
    equivalent: bool = False
    #: tests to run before TESTS (the one expected to catch it: a quicker verdict)
    first: tuple = ()


MUTANTS = [
    # --- the engine's pruning (what it proves zero) -------------------------------------------
    Mutant("M01", "lrp_teach/propagate/engine.py",
           "relus = [i] if step.relu else relus_after(steps, readers, i)",
           "relus = [i]",
           "'followed by a ReLU' pruning condition forced true",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M02", "lrp_teach/propagate/engine.py",
           "input_nonnegative = images_nonnegative if source == -1 else nonnegative[source]",
           "input_nonnegative = True",
           "'inputs are non-negative' pruning condition forced true",
           first=(GRAPHS + "[two_linear_branches]",)),
    Mutant("M03", "lrp_teach/propagate/engine.py",
           "groups = _step.prune(groups, input_nonnegative, irrelevant)",
           "groups = _step.prune(groups, False, False)",
           "both pruning conditions forced false (nothing pruned)", equivalent=True),
    Mutant("M21", "lrp_teach/propagate/engine.py",
           "nonnegative = all(images_nonnegative if source == -1 else result[source]",
           "nonnegative = any(images_nonnegative if source == -1 else result[source]",
           "Add/Concatenate of a ReLU output and a signed one counted as non-negative",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M22", "lrp_teach/propagate/engine.py",
           "ok = _step.zero_input_gets_zero_relevance(textbook[j])",
           "ok = True",
           "'zero output gets zero relevance' assumed for every next rule (flat, w² too)",
           first=(CHAINS + "[relu_everywhere]",)),
    # --- the graph ----------------------------------------------------------------------------
    Mutant("M23", "lrp_teach/propagate/engine.py",
           "arriving[source] = part if source not in arriving else arriving[source] + part",
           "arriving[source] = part",
           "relevance at a tensor with two readers not summed (the last one wins)",
           first=(GRAPHS + "[two_linear_branches]",)),
    Mutant("M24", "lrp_teach/propagate/engine.py",
           "parts = [branch * s for branch in a]",
           "parts = [relevance / len(a) for branch in a]",
           "Add split into equal halves",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M25", "lrp_teach/propagate/engine.py",
           "stabilize(outputs[i], _layers.NORM_EPSILON))",
           "outputs[i])",
           "Add's proportional split without its stabiliser",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M26", "lrp_teach/propagate/engine.py",
           "parts = [relevance[:, top:height - bottom, left:width - right, :]]",
           "parts = [relevance[:, bottom:height - top, right:width - left, :]]",
           "ZeroPadding2D cropped from the wrong sides",
           first=(GRAPHS + "[residual_from_the_input]",)),
    Mutant("M27", "lrp_teach/propagate/engine.py",
           "                value = tf.pad(value, self.steps[k].config[\"paddings\"])\n",
           "                value = value\n",
           "z^B's bounds not padded with zeros like the images",
           first=(GRAPHS + "[padded_stem]",)),
    Mutant("M28", "lrp_teach/canonizers.py",
           "return kernel * tf.reshape(scale, (-1, multiplier)), shift",
           "return kernel * tf.transpose(tf.reshape(scale, (multiplier, -1))), shift",
           "BatchNorm fold into a depthwise conv: channel order m·C + c instead of c·M + m",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M29", "lrp_teach/composites.py",
           "    if convs:\n        return convs[0]",
           "    if convs:\n        return convs[-1]",
           "'first layer' = the last convolution",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M30", "lrp_teach/composites.py",
           'by_class={"Conv2D": conv, "DepthwiseConv2D": conv, "Dense": dense}',
           'by_class={"Conv2D": conv, "DepthwiseConv2D": dense, "Dense": dense}',
           "presets give a depthwise convolution the Dense rule",
           first=(GRAPHS + "[inverted_residual]",)),
    # --- rules --------------------------------------------------------------------------------
    Mutant("M04", "lrp_teach/composites.py",
           "super().__init__(conv=_rules.AlphaBeta(2.0, 1.0), dense=_rules.Epsilon(epsilon))",
           "super().__init__(conv=_rules.AlphaBeta(1.0, 0.0), dense=_rules.Epsilon(epsilon))",
           "α1β0 instead of α2β1 in EpsilonAlpha2Beta1",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M05", "lrp_teach/composites.py",
           "super().__init__(conv=_rules.ZPlus(), dense=_rules.Epsilon(epsilon))",
           "super().__init__(conv=_rules.ZPlus(), dense=_rules.Epsilon(epsilon), "
           "first=_rules.Flat())",
           "Flat on EpsilonPlus's first layer",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M06", "lrp_teach/rules.py",
           'return [Group((Branch("positive", _positive, _positive),\n'
           '                       Branch("negative", _negative, False)))]',
           'return [Group((Branch("positive", None, _positive),\n'
           '                       Branch("negative", _negative, False)))]',
           "z+: W instead of W+ for the positive inputs",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M07", "lrp_teach/rulebase.py",
           "return z + tf.where(z >= 0, epsilon, -epsilon)",
           "return z + epsilon",
           "ε added without the sign of z",
           first=("tests/test_rules.py::test_the_stabiliser_counts_zero_as_positive",)),
    Mutant("M08", "lrp_teach/rulebase.py",
           "return z + tf.where(z >= 0, epsilon, -epsilon)",
           "return z + tf.where(z > 0, epsilon, -epsilon)",
           "sign(0) = -1 in the stabiliser",
           first=("tests/test_rules.py::test_the_stabiliser_counts_zero_as_positive",)),
    Mutant("M09", "lrp_teach/rules.py",
           'return [Group((Branch("x"),))]\n\n    def stabilizer',
           'return [Group((Branch("x", None, False),))]\n\n    def stabilizer',
           "ε rule without the bias in z",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M10", "lrp_teach/rules.py",
           'return [Group((Branch("positive", _positive, _positive),\n'
           '                       Branch("negative", _negative, False)))]',
           'return [Group((Branch("positive", _positive, _positive),))]',
           "z+ without the negative-input term",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M11", "lrp_teach/rules.py",
           'return [Group((Branch("x", None, False),\n'
           '                       Branch("low", _positive, False, sign=-1.0),\n'
           '                       Branch("high", _negative, False, sign=-1.0)))]',
           'return [Group((Branch("x", None, False),\n'
           '                       Branch("low", _negative, False, sign=-1.0),\n'
           '                       Branch("high", _positive, False, sign=-1.0)))]',
           "z^B with the bounds swapped (l·W⁻, h·W⁺)",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M12", "lrp_teach/rules.py",
           'return [Group((Branch("ones", _square, False),))]',
           'return [Group((Branch("ones", _square, None),))]',
           "w² with the bias in the denominator",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M13", "lrp_teach/rules.py",
           "up, down = _gamma_positive(self.gamma), _gamma_negative(self.gamma)",
           "up, down = _gamma_positive(self.gamma), _gamma_positive(self.gamma)",
           "γ: W + γW⁺ also in the negative half",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M14", "lrp_teach/rules.py",
           "negative = (Branch(\"positive\", _negative, _negative), Branch(\"negative\", _positive, "
           "False))",
           "negative = (Branch(\"positive\", _negative, _negative),)",
           "α/β: the negative part without the negative-input term",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M15", "lrp_teach/composites.py",
           "assignment[index] = self.gamma if position <= len(convs) // 2 else self.epsilon",
           "assignment[index] = self.gamma if position < len(convs) // 2 else self.epsilon",
           "MontavonVGG16: one γ layer too few",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M16", "lrp_teach/composites.py",
           'self.epsilon = _rules.Epsilon(epsilon, relative=relative_epsilon)',
           'self.epsilon = _rules.Epsilon(epsilon)',
           "MontavonVGG16: absolute instead of relative ε",
           first=(GRAPHS + "[inverted_residual]",)),
    # --- canonizer ----------------------------------------------------------------------------
    Mutant("M17", "lrp_teach/canonizers.py",
           "shift = -read(bn.moving_mean) if bias is None else bias - read(bn.moving_mean)",
           "shift = -read(bn.moving_mean) if bias is None else bias",
           "BatchNorm fold without the moving mean (when the layer has a bias)",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M18", "lrp_teach/canonizers.py",
           "            shift = shift + read(bn.beta)\n",
           "            shift = shift\n",
           "BatchNorm fold without β",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M19", "lrp_teach/canonizers.py",
           "scale = tf.math.rsqrt(read(bn.moving_variance) + tf.constant(bn.epsilon, dtype))",
           "scale = tf.math.rsqrt(read(bn.moving_variance))",
           "BatchNorm fold without its ε",
           first=(GRAPHS + "[inverted_residual]",)),
    # --- layers without weights ---------------------------------------------------------------
    Mutant("M20", "lrp_teach/propagate/layers.py",
           'NORM_EPSILON = 1e-6',
           'NORM_EPSILON = 1e-2',
           "average pooling's stabiliser 1e-2 instead of 1e-6",
           first=(GRAPHS + "[inverted_residual]",)),
    # --- step 2 without the sign of z where z ≥ 0 is proven (issue 18, speed) ------------------
    Mutant("M31", "lrp_teach/propagate/step.py",
           "return tuple(rule.epsilon if plain and nonnegative_denominator(group, "
           "input_nonnegative)",
           "return tuple(rule.epsilon if plain",
           "every denominator taken as proven ≥ 0 (z + ε, the sign of z ignored)",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M32", "lrp_teach/rulebase.py",
           "MODIFIER_SIGNS = {_positive: 1, _negative: -1, _square: 1, _ones: 1}",
           "MODIFIER_SIGNS = {_positive: 1, _negative: 1, _square: 1, _ones: 1}",
           "min(W, 0) counted as ≥ 0 in the sign proof",
           first=(GRAPHS + "[inverted_residual]",)),
    Mutant("M33", "lrp_teach/propagate/step.py",
           "if branch.sign * input_sign * MODIFIER_SIGNS.get(branch.weight, 0) <= 0:",
           "if branch.sign * input_sign * MODIFIER_SIGNS.get(branch.weight, 0) < 0:",
           "a factor of unknown sign (unmodified W) passes the sign proof",
           first=("tests/test_rules.py::test_which_denominators_are_proven_non_negative",)),
    Mutant("M34", "lrp_teach/propagate/step.py",
           "input_sign = 1 if input_nonnegative else 0",
           "input_sign = 1",
           "the layer input x counted as ≥ 0 in the sign proof whatever its sign",
           first=("tests/test_rules.py::test_which_denominators_are_proven_non_negative",)),
    Mutant("M35", "lrp_teach/propagate/step.py",
           "if branch.bias is not False and branch.sign * MODIFIER_SIGNS.get(branch.bias, 0) <= 0:",
           "if False:",
           "the bias term left out of the sign proof",
           first=("tests/test_rules.py::test_which_denominators_are_proven_non_negative",)),
    Mutant("M36", "lrp_teach/propagate/step.py",
           "plain = own is Rule.stabilizer and rule.epsilon > 0",
           "plain = False",
           "the proven z + ε never used (same numbers, slower: the graph test must see it)",
           first=("tests/test_engine.py::test_denominators_proven_non_negative_skip_the_sign",)),
    Mutant("M37", "lrp_teach/propagate/layers.py",
           "return tf.minimum(tf.nn.relu(a), tf.constant(max_value, a.dtype))",
           "return tf.nn.relu(a)",
           "ReLU6 without its clip at 6 (the oneDNN form, ReLU + minimum)",
           first=("tests/test_engine_dag.py::test_relu6_is_clipped_at_6_with_either_kernel_"
                  "library",)),
    Mutant("M38", "lrp_teach/propagate/layers.py",
           "        return tf.nn.relu6(a)",
           "        return tf.nn.relu(a)",
           "ReLU6 without its clip at 6 (the form without oneDNN, tf.nn.relu6)",
           first=("tests/test_engine_dag.py::test_relu6_padding_pooling_reshape_dropout_and_"
                  "softmax_pass_as_stated",)),
]


def apply(mutant: Mutant, root: Path) -> str | None:
    """Apply ``mutant`` under ``root``; None, or why it could not be applied."""
    path = root / mutant.path
    if not path.exists():
        return f"stale: {mutant.path} does not exist"
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        return f"stale: the text to replace occurs {count} times in {mutant.path}"
    path.write_text(text.replace(mutant.old, mutant.new))
    return None


def scratch_copy() -> Path:
    root = Path(tempfile.mkdtemp(prefix="lrp_mutants_"))
    for name in ("lrp_teach", "tests"):
        shutil.copytree(ROOT / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):   # README: tests run its code examples
        shutil.copy2(ROOT / name, root / name)
    notebooks = root / "notebooks"
    notebooks.mkdir()
    shutil.copy2(ROOT / "notebooks" / "sanitize.cfg", notebooks / "sanitize.cfg")
    return root


def run_tests(root: Path, tests, timeout) -> tuple[str, str]:
    """(outcome, first failing test or '') for the tests under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p",
               "no:randomly", *tests]
    try:
        proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    if proc.returncode == 0:
        return "survived", ""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.M)
    return "caught", failed[0] if failed else f"(exit {proc.returncode})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="mutant ids (default: all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--tests", nargs="+", default=TESTS)
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at the same time")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.ids or m.id in args.ids]
    if args.list:
        for m in chosen:
            print(f"{m.id}  {m.path}: {m.what}")
        return 0

    check_root = scratch_copy()
    try:
        check = subprocess.run(
            [sys.executable, "-c", "import lrp_teach; print(lrp_teach.__file__)"], cwd=check_root,
            env={**os.environ, "PYTHONPATH": str(check_root)}, capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(check_root)):
            raise SystemExit(f"the scratch copy is not the package imported: {check.stdout}")
    finally:
        shutil.rmtree(check_root, ignore_errors=True)

    def one(m):
        root = scratch_copy()
        try:
            start = time.time()
            problem = apply(m, root)
            if problem:
                outcome, test = problem, ""
            else:
                outcome, test = "survived", ""
                if m.first:  # the test expected to catch it, alone: a quick verdict
                    outcome, test = run_tests(root, list(m.first), args.timeout)
                if outcome == "survived":  # then every test of the list
                    outcome, test = run_tests(root, args.tests, args.timeout)
            print(f"{m.id} {outcome:9s} {time.time() - start:6.0f} s  {m.what}  {test}",
                  flush=True)
            return m, outcome, test, time.time() - start
        finally:
            shutil.rmtree(root, ignore_errors=True)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, chosen))

    survivors = [m.id for m, outcome, _, _ in results
                 if outcome != ("survived" if m.equivalent else "caught")]
    if args.markdown:
        print("\n| mutant | where | what | caught by |\n|---|---|---|---|")
        for m, outcome, test, _ in results:
            if m.equivalent:
                verdict = ("survives, as it should (equivalent)" if outcome == "survived"
                           else f"**{outcome}** `{test}` (an equivalent mutant must survive)")
            else:
                verdict = f"`{test}`" if outcome == "caught" else f"**{outcome}**"
            print(f"| {m.id} | `{m.path}` | {m.what} | {verdict} |")
    print(f"\n{len(results) - len(survivors)} of {len(results)} as expected (caught; equivalent "
          "ones survived)" + (f"; NOT as expected: {' '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
