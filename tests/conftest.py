"""Fixtures shared by the engine's test modules (instead of importing between test modules)."""

from __future__ import annotations

import pytest

from lrp_teach import composites, rules

#: Single rules beyond the registry's names, so that every rule runs through whole models.
_EXTRA = {"alpha_beta": lambda: rules.AlphaBeta(2, 1), "w_square": rules.WSquare,
          "flat": rules.Flat}
#: Every name of composites.by_name, then the extra rules.
COMPOSITE_NAMES = (*composites.NAMES, *_EXTRA)


def make_composite(name, low=-1.0, high=1.0):
    """The composite called ``name`` for models whose inputs lie in [low, high] (γ = 0.5 for
    the single "gamma" rule, so that it differs from the presets' 0.25)."""
    if name in _EXTRA:
        return _EXTRA[name]()
    return composites.by_name(name, low=low, high=high, gamma=0.5 if name == "gamma" else None)


def pytest_generate_tests(metafunc):
    """A test that takes ``composite_name`` runs once per composite of the registry."""
    if "composite_name" in metafunc.fixturenames:
        metafunc.parametrize("composite_name", COMPOSITE_NAMES)


@pytest.fixture
def composite(composite_name):
    """The composite of the test's ``composite_name`` (see :func:`make_composite`)."""
    return composites.as_composite(make_composite(composite_name))


@pytest.fixture
def no_computation(monkeypatch):
    """Fail loudly if the engine gets as far as building/running its compiled function."""
    from lrp_teach.propagate import engine

    def forbidden(*args, **kwargs):
        raise AssertionError("the engine started computing before checking the model")
    monkeypatch.setattr(engine, "_get_explainer", forbidden)
