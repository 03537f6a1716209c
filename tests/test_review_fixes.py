"""Bugs a code review found, each with the test that failed before its fix."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import rules
from lrp_teach._tf import keras

L = keras.layers


def _model():
    model = keras.Sequential([keras.Input((4, 4, 1), dtype="float64"),
                              L.Conv2D(2, 3, activation="relu", dtype="float64"),
                              L.Flatten(dtype="float64"), L.Dense(2, dtype="float64")])
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.7, weight.shape))
    return model


@pytest.mark.parametrize("make", [rules.ZPlus, rules.Flat, lambda: rules.Gamma(0.5),
                                  lambda: rules.AlphaBeta(2, 1)], ids=["ZPlus", "Flat", "Gamma",
                                                                       "AlphaBeta"])
def test_a_changed_public_parameter_is_not_served_from_the_cache(make):
    model = _model()
    x = np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 1))
    rule = make()
    before = lt.explain(model, x, 0, rule)
    rule.epsilon = 10.0
    fresh = make()
    fresh.epsilon = 10.0
    assert rule == fresh and rule != make() and hash(rule) == hash(fresh)
    assert "epsilon=10.0" in repr(rule)
    after = lt.explain(model, x, 0, rule)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, lt.explain(model, x, 0, fresh))
    gamma = rules.Gamma(0.5)
    lt.explain(model, x, 0, gamma)
    gamma.gamma = 3.0
    np.testing.assert_array_equal(lt.explain(model, x, 0, gamma),
                                  lt.explain(model, x, 0, rules.Gamma(3.0)))


def _fresh_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_every_submodule_is_an_attribute_of_a_fresh_import():
    code = ("import importlib.util, lrp_teach as lt\n"
            "for name in ('weights', 'lecture', 'numeric'):\n"
            "    assert getattr(lt, name).__name__ == 'lrp_teach.' + name\n"
            "for name in lt._SUBMODULES:\n"
            "    if importlib.util.find_spec('lrp_teach.' + name) is not None:\n"
            "        assert getattr(lt, name).__name__ == 'lrp_teach.' + name, name\n"
            "print('ok')")
    result = _fresh_python(code)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_canonizers_do_not_import_the_engine():
    result = _fresh_python("import sys, lrp_teach.canonizers\n"
                           "print(sorted(m for m in sys.modules if m.startswith('lrp_teach.')))")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lrp_teach.propagate" not in result.stdout
    # and the engine's layer table imports cleanly first
    result = _fresh_python("import lrp_teach.propagate.layers as l; "
                           "print(l.HANDLERS[0].kind)")
    assert result.returncode == 0 and result.stdout.strip() == "input", result.stderr[-2000:]
