"""lrp_teach.taylor: the symbolic derivations and the numeric root points / relevances agree."""

import numpy as np
import pytest
import sympy

from lrp_teach import taylor
from lrp_teach.taylor import S

RNG = np.random.default_rng(0)
BOX = (np.array([-0.5, -0.5]), np.array([1.5, 1.5]))


def test_active_piece_has_zero_hessian_and_exact_first_order_expansion():
    f = taylor.active_piece()
    assert taylor.hessian(f).is_zero_matrix
    polynomial, remainder = taylor.taylor_first_order(f)
    assert remainder == 0
    assert sympy.simplify(polynomial - f) == 0


def test_inactive_piece_is_zero():
    assert taylor.inactive_piece() == 0
    assert taylor.neuron().subs({S.w1: 1, S.w2: 1, S.b: -5, S.x1: 1, S.x2: 1}) == 0


def test_w2_root_point_matches_the_lecture():
    solution = taylor.solve_root_on_line(S.w)
    norm2 = S.w.dot(S.w)
    z = S.w.dot(S.x) + S.b
    assert taylor.symbolic_equal(solution.t, -z / norm2)
    assert taylor.symbolic_equal(solution.a, S.x - z / norm2 * S.w)
    assert taylor.symbolic_equal(solution.R, sympy.Matrix([S.w1**2, S.w2**2]) * z / norm2)
    assert taylor.symbolic_equal(sum(solution.R), z)
    assert taylor.symbolic_equal(solution.R, taylor.rule_formula_symbolic("w2"))


@pytest.mark.parametrize("signs", [(1, 1), (1, -1), (-1, 1)])
def test_zplus_and_zb_derivations_match_the_formulas(signs):
    w = [sympy.Symbol(f"w{i + 1}", positive=True) * s for i, s in enumerate(signs)]
    x = list(sympy.symbols("x1 x2", nonnegative=True))
    for rule in ("zplus", "zb"):
        v = taylor.search_direction_symbolic(rule, w, x)
        solution = taylor.solve_root_on_line(v, w, x)
        assert taylor.symbolic_equal(solution.R, taylor.rule_formula_symbolic(rule, w, x))
        assert taylor.symbolic_equal(sum(solution.R), taylor.preactivation(w, x))


def test_lrp0_is_gradient_times_input_and_loses_the_bias():
    f = taylor.active_piece()
    polynomial, remainder = taylor.taylor_first_order(f, point=[0, 0])
    grad_x_input = taylor.gradient(f).multiply_elementwise(S.x)
    assert remainder == 0
    assert taylor.symbolic_equal(polynomial - S.b, sum(grad_x_input))
    assert taylor.symbolic_equal(taylor.rule_formula_symbolic("lrp0"), grad_x_input)
    with pytest.raises(ValueError, match="origin"):
        taylor.search_direction_symbolic("lrp0")


def _random_active(rule):
    while True:
        w = RNG.normal(size=2)
        x = RNG.uniform(0, 1.4, size=2)
        b = -RNG.uniform(0, 0.4)
        if w @ x + b > 0.05 and (rule != "zplus" or np.any(w > 0)):
            return w, x, b


@pytest.mark.parametrize("rule", ["w2", "zplus", "zb"])
def test_numeric_root_points_are_roots_and_conserve(rule):
    for _ in range(20):
        w, x, b = _random_active(rule)
        a = taylor.root_point(rule, w, x, b, *BOX)
        assert taylor.is_root(w, a, b)
        R = taylor.relevance(rule, w, x, b, *BOX)
        assert np.isclose(R.sum(), taylor.neuron_output(w, x, b))
        np.testing.assert_allclose(R, taylor.rule_relevance(rule, w, x, b, *BOX), atol=1e-12)


def test_domains():
    w, x, b = np.array([1.0, -0.6]), np.array([1.2, 0.8]), -0.3
    assert taylor.in_domain("zplus", taylor.root_point("zplus", w, x, b))
    assert taylor.in_domain("zb", taylor.root_point("zb", w, x, b, *BOX), *BOX)
    # a positive bias pushes the z+ root point out of the positive orthant
    assert not taylor.in_domain("zplus", taylor.root_point("zplus", w, x, 0.6))
    # the w2 root point of this neuron leaves the orthant
    w, x, b = np.array([1.0, 1.0]), np.array([0.1, 2.0]), -0.5
    assert not taylor.in_domain("zplus", taylor.root_point("w2", w, x, b))


def test_lrp0_numeric():
    w, x, b = np.array([1.0, -0.5]), np.array([1.0, 1.5]), -0.2
    np.testing.assert_allclose(taylor.relevance("lrp0", w, x, b), w * x)
    np.testing.assert_allclose(taylor.rule_relevance("lrp0", w, x, b), w * x)
    np.testing.assert_allclose(taylor.root_point("lrp0", w, x, b), [0, 0])
    assert not taylor.is_root(w, [0, 0], b)
    assert taylor.is_root(w, [0, 0], 0.0)
    np.testing.assert_allclose(taylor.gradient_x_input(w, x, b), w * x)


def test_inactive_neuron_gets_no_relevance():
    w, x, b = np.array([1.0, -0.5]), np.array([0.2, 1.5]), -0.4
    for rule in taylor.RULES:
        assert np.all(taylor.relevance(rule, w, x, b, *BOX) == 0)
        assert np.all(taylor.rule_relevance(rule, w, x, b, *BOX) == 0)
    np.testing.assert_allclose(taylor.root_point("w2", w, x, b), x)


def test_no_root_on_the_line():
    w, x, b = np.array([-1.0, -0.5]), np.array([0.2, 0.1]), 1.0  # no positive weight
    assert np.all(np.isnan(taylor.root_point("zplus", w, x, b)))
    assert np.all(taylor.relevance("zplus", w, x, b) == 0)
    assert not taylor.in_domain("zplus", taylor.root_point("zplus", w, x, b))


def test_bad_input_messages():
    with pytest.raises(ValueError, match="unknown rule"):
        taylor.canonical_rule("alpha-beta")
    with pytest.raises(ValueError, match="low=... and high="):
        taylor.root_point("zb", [1.0, 1.0], [1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="same length"):
        taylor.root_point("w2", [1.0, 1.0], [1.0, 1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="empty"):
        taylor.root_point("zb", [1.0, 1.0], [1.0, 1.0], 0.0, low=[1, 1], high=[0, 0])
    assert taylor.canonical_rule("z⁺") == "zplus" and taylor.canonical_rule("LRP-0") == "lrp0"


def test_show_prints_outside_ipython(capsys):
    taylor.show("t", -S.b / S.w1)
    assert capsys.readouterr().out == "t = -b/w1\n"
    with pytest.raises(ValueError, match="pairs"):
        taylor.show("t")


def test_explain_neuron_summary():
    info = taylor.explain_neuron("z+", [1.0, -0.6], [1.2, 0.8], -0.3)
    assert info["rule"] == "zplus" and info["active"] and info["in_domain"] and info["is_root"]
    assert np.isclose(info["sum_R"], info["f"]) and np.isclose(info["f"], 0.42)
