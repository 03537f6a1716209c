"""Taylor decomposition of one ReLU neuron, symbolically (sympy) and numerically (numpy).

The neuron of notebooks 01 and 02 has two inputs::

    f(x) = max(0, w·x + b) = max(0, w₁x₁ + w₂x₂ + b)

On its active side (w·x + b > 0) it is the linear function w·x + b, so the first-order Taylor
expansion around any point ``a`` on the same linear piece is *exact* (the Hessian is zero)::

    f(x) = f(a) + Σᵢ wᵢ (xᵢ − aᵢ)

If ``a`` is a *root point* (f(a) = 0) the constant term disappears and ``f(x) = Σᵢ Rᵢ`` with
``Rᵢ = wᵢ (xᵢ − aᵢ)``: the relevance of input i. Which root point to take is a choice, and each
choice is an LRP rule. All of them search on a line ``a = x + t·v`` through x, in a direction v::

    w·(x + t v) + b = 0   ⇒   t = −(w·x + b) / (w·v),   Rᵢ = wᵢ (xᵢ − aᵢ) = wᵢ vᵢ / (w·v) · f(x)

- ``w2``: v = w (steepest descent, the nearest root), domain ℝ²; Rᵢ = wᵢ²/Σw² · f(x).
- ``zplus``: v = x ⊙ 1[w > 0] (shrink the exciting inputs), domain x ≥ 0;
  Rᵢ = xᵢwᵢ⁺/Σ xw⁺ · f(x).
- ``zb``: v = x − l where w > 0, x − h where w < 0, domain the box l ≤ x ≤ h;
  Rᵢ = (xᵢwᵢ − lᵢwᵢ⁺ − hᵢwᵢ⁻)/Σ(…) · f(x).
- ``lrp0``: no line search, the expansion point is the origin a = 0; Rᵢ = xᵢwᵢ (gradient × input).

(LRP-0 keeps Σ Rᵢ = f(x) − b: the origin is a root of the linear piece only when b = 0.)

The sympy half (``SYMBOLS``, :func:`preactivation`, :func:`neuron`, :func:`hessian`,
:func:`taylor_first_order`, :func:`solve_root_on_line`, :func:`search_direction_symbolic`,
:func:`rule_formula_symbolic`) backs the derivations of the notebooks; the numpy half
(:func:`root_point`, :func:`relevance`, :func:`rule_relevance`, :func:`in_domain`, …) is what the
widget of notebook 02 and the exercise checkers reuse.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import sympy

# ----------------------------------------------------------------------------------------------
# Symbols. Everything is real; bounds of the box are named l, h like in Montavon et al. (2017).
# ----------------------------------------------------------------------------------------------
_x1, _x2, _w1, _w2, _b, _t = sympy.symbols("x1 x2 w1 w2 b t", real=True)
_a1, _a2, _l1, _l2, _h1, _h2 = sympy.symbols("a1 a2 l1 l2 h1 h2", real=True)
_v1, _v2 = sympy.symbols("v1 v2", real=True)

#: The sympy symbols of the 2-input neuron: ``S.x`` (Matrix [x1, x2]), ``S.w``, ``S.b``, ``S.t``
#: (the step along the search line), ``S.a`` (a generic expansion point), ``S.low`` / ``S.high``
#: (the box of the z^B rule), ``S.v`` (a search direction left open), and the scalars ``S.x1``,
#: ``S.w1``, ``S.v1``, ….
SYMBOLS = SimpleNamespace(
    x1=_x1, x2=_x2, w1=_w1, w2=_w2, b=_b, t=_t, a1=_a1, a2=_a2,
    l1=_l1, l2=_l2, h1=_h1, h2=_h2, v1=_v1, v2=_v2,
    x=sympy.Matrix([_x1, _x2]), w=sympy.Matrix([_w1, _w2]), a=sympy.Matrix([_a1, _a2]),
    v=sympy.Matrix([_v1, _v2]),
    low=sympy.Matrix([_l1, _l2]), high=sympy.Matrix([_h1, _h2]),
)
S = SYMBOLS

RULES = ("w2", "zplus", "zb", "lrp0")
RULE_NAMES = {
    "w2": "w² rule",
    "zplus": "z⁺ rule",
    "zb": "z^B rule",
    "lrp0": "LRP-0 (z rule)",
}
DOMAIN_NAMES = {
    "w2": "all of ℝ²",
    "zplus": "positive orthant x ≥ 0",
    "zb": "box l ≤ x ≤ h",
    "lrp0": "all of ℝ²",
}
_ALIASES = {
    "w2": "w2", "w²": "w2", "wsquare": "w2", "w_square": "w2",
    "zplus": "zplus", "z+": "zplus", "z⁺": "zplus", "z_plus": "zplus",
    "zb": "zb", "z^b": "zb", "zbox": "zb", "z_b": "zb",
    "lrp0": "lrp0", "lrp-0": "lrp0", "z": "lrp0", "lrp_0": "lrp0",
}


def canonical_rule(rule: str) -> str:
    """Return the canonical name ('w2', 'zplus', 'zb' or 'lrp0') of a rule name or alias."""
    key = str(rule).strip().lower().replace(" ", "")
    if key not in _ALIASES:
        raise ValueError(f"unknown rule {rule!r}. Use one of {RULES} "
                         "(aliases: 'w²', 'z+', 'zB', 'z', 'LRP-0').")
    return _ALIASES[key]


# ----------------------------------------------------------------------------------------------
# Symbolic (sympy)
# ----------------------------------------------------------------------------------------------
def preactivation(w=None, x=None, b=None):
    """z = w·x + b (defaults: the symbols of :data:`SYMBOLS`)."""
    w = S.w if w is None else sympy.Matrix(w)
    x = S.x if x is None else sympy.Matrix(x)
    b = S.b if b is None else sympy.sympify(b)
    return sympy.expand(w.dot(x) + b)


def neuron(w=None, x=None, b=None):
    """f(x) = max(0, w·x + b): the ReLU neuron as a sympy expression."""
    return sympy.Max(0, preactivation(w, x, b))


def active_piece(w=None, x=None, b=None):
    """The neuron where it is active (w·x + b > 0): the linear function w·x + b."""
    return preactivation(w, x, b)


def inactive_piece(w=None, x=None, b=None):
    """The neuron where it is inactive (w·x + b ≤ 0): the constant 0."""
    return sympy.Integer(0)


def gradient(expr, variables=None) -> sympy.Matrix:
    """Column vector of ∂expr/∂xᵢ (default variables: x1, x2)."""
    variables = list(S.x) if variables is None else list(variables)
    return sympy.Matrix([sympy.diff(expr, v) for v in variables])


def hessian(expr, variables=None) -> sympy.Matrix:
    """Matrix of second derivatives ∂²expr/∂xᵢ∂xⱼ (default variables: x1, x2)."""
    variables = list(S.x) if variables is None else list(variables)
    return sympy.hessian(expr, variables)


def taylor_first_order(expr, point=None, variables=None):
    """First-order Taylor polynomial of ``expr`` around ``point`` and the remainder ε.

    f(x) = f(a) + Σᵢ ∂f/∂xᵢ|ₐ (xᵢ − aᵢ) + ε.   Returns ``(polynomial, remainder)`` with
    ``remainder = simplify(expr − polynomial)``.
    """
    variables = list(S.x) if variables is None else list(variables)
    point = list(S.a) if point is None else list(point)
    at_a = dict(zip(variables, point))
    polynomial = expr.subs(at_a, simultaneous=True) + sum(
        sympy.diff(expr, v).subs(at_a, simultaneous=True) * (v - p)
        for v, p in zip(variables, point)
    )
    return polynomial, sympy.simplify(expr - polynomial)


def solve_root_on_line(direction, w=None, x=None, b=None):
    """Root point of the linear piece on the line a = x + t·v, solved by sympy.

    Solves w·(x + t v) + b = 0 for t. Returns a namespace with ``t`` (the solution), ``a``
    (Matrix, the root point) and ``R`` (Matrix, Rᵢ = wᵢ (xᵢ − aᵢ), all simplified).
    """
    w = S.w if w is None else sympy.Matrix(w)
    x = S.x if x is None else sympy.Matrix(x)
    b = S.b if b is None else sympy.sympify(b)
    v = sympy.Matrix(direction)
    solutions = sympy.solve(sympy.Eq(w.dot(x + S.t * v) + b, 0), S.t, dict=False)
    if len(solutions) != 1:
        raise ValueError(f"expected exactly one solution for t, got {solutions}: is w·v = 0 for "
                         "this direction? Then the line never reaches the zero line.")
    # factor/cancel instead of simplify: exact for these rational functions, and much faster
    t = sympy.factor(solutions[0])
    a = (x + t * v).applyfunc(sympy.factor)
    R = sympy.Matrix([sympy.factor(w[i] * (x[i] - a[i])) for i in range(len(x))])
    return SimpleNamespace(t=t, a=a, R=R)


def _positive_part(value):
    return sympy.Max(value, 0)


def _negative_part(value):
    return sympy.Min(value, 0)


def search_direction_symbolic(rule, w=None, x=None, low=None, high=None) -> sympy.Matrix:
    """The search direction v of a rule, as sympy (Piecewise where it depends on the sign of w).

    Give w symbols with a sign (``sympy.Symbol('w1', positive=True)``) to have sympy pick the
    branch. LRP-0 has no search line (its 'root point' is the origin): asking for it is an error.
    """
    rule = canonical_rule(rule)
    w = S.w if w is None else sympy.Matrix(w)
    x = S.x if x is None else sympy.Matrix(x)
    low = S.low if low is None else sympy.Matrix(low)
    high = S.high if high is None else sympy.Matrix(high)
    if rule == "w2":
        return sympy.Matrix(w)
    if rule == "zplus":
        return sympy.Matrix([sympy.Piecewise((x[i], w[i] > 0), (0, True)) for i in range(len(x))])
    if rule == "zb":
        return sympy.Matrix([sympy.Piecewise((x[i] - low[i], w[i] > 0), (x[i] - high[i], True))
                             for i in range(len(x))])
    raise ValueError("LRP-0 does not search along a line: its expansion point is the origin "
                     "a = 0. Use rule_formula_symbolic('lrp0') or taylor_first_order(..., "
                     "point=[0, 0]) instead.")


def rule_formula_symbolic(rule, w=None, x=None, b=None, low=None, high=None) -> sympy.Matrix:
    """The published formula of each rule for an active neuron (R_j = f(x) = w·x + b).

    w²: Rᵢ = wᵢ²/Σw² · f;  z⁺: Rᵢ = xᵢwᵢ⁺/Σxw⁺ · f;  z^B: Rᵢ = (xᵢwᵢ − lᵢwᵢ⁺ − hᵢwᵢ⁻)/Σ(…) · f;
    LRP-0: Rᵢ = xᵢwᵢ/(w·x + b) · f = xᵢwᵢ.
    """
    rule = canonical_rule(rule)
    w = S.w if w is None else sympy.Matrix(w)
    x = S.x if x is None else sympy.Matrix(x)
    b = S.b if b is None else sympy.sympify(b)
    low = S.low if low is None else sympy.Matrix(low)
    high = S.high if high is None else sympy.Matrix(high)
    f = w.dot(x) + b
    n = len(x)
    if rule == "w2":
        z = [w[i] ** 2 for i in range(n)]
    elif rule == "zplus":
        z = [x[i] * _positive_part(w[i]) for i in range(n)]
    elif rule == "zb":
        z = [x[i] * w[i] - low[i] * _positive_part(w[i]) - high[i] * _negative_part(w[i])
             for i in range(n)]
    else:  # lrp0: z_i / z_j * R_j with R_j = z_j
        z = [x[i] * w[i] for i in range(n)]
        return sympy.Matrix([z[i] / f * f for i in range(n)])
    total = sum(z)
    return sympy.Matrix([z[i] / total * f for i in range(n)])


def symbolic_equal(left, right) -> bool:
    """True iff sympy simplifies ``left − right`` to 0 (element-wise for matrices)."""
    difference = sympy.Matrix(left) - sympy.Matrix(right) if isinstance(
        left, sympy.MatrixBase) else sympy.sympify(left) - sympy.sympify(right)
    entries = list(difference) if isinstance(difference, sympy.MatrixBase) else [difference]
    # cancel() decides rational functions exactly and fast; simplify() is the slow fallback
    return all(sympy.cancel(entry) == 0 or sympy.simplify(entry) == 0 for entry in entries)


# ----------------------------------------------------------------------------------------------
# Numeric (numpy): what the widget and the checkers use
# ----------------------------------------------------------------------------------------------
def _vector(name, value, size=None):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be a vector (1-D), got shape {array.shape}. Pass e.g. "
                         f"np.array([1.0, -0.5]).")
    if size is not None and array.shape[0] != size:
        raise ValueError(f"`{name}` has {array.shape[0]} entries but w has {size}: give w, x "
                         "(and low, high) the same length.")
    return array


def _box(rule, low, high, size):
    if low is None or high is None:
        raise ValueError(f"the {RULE_NAMES[rule]} needs the box: pass low=... and high=... "
                         "(the smallest and largest value each input can take, e.g. the pixel "
                         "range).")
    low, high = _vector("low", low, size), _vector("high", high, size)
    if np.any(low > high):
        raise ValueError("the box is empty: some low[i] > high[i]. Swap them.")
    return low, high


def preactivation_value(w, x, b) -> float:
    """z = w·x + b."""
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    return float(w @ x + b)


def neuron_output(w, x, b) -> float:
    """f(x) = max(0, w·x + b)."""
    return max(0.0, preactivation_value(w, x, b))


def search_direction(rule, w, x, low=None, high=None) -> np.ndarray:
    """Direction v of the root-point search a = x + t·v for the rules 'w2', 'zplus', 'zb'.

    For 'lrp0' there is no search (the expansion point is the origin); this returns x, the line
    from x to the origin.
    """
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    if rule == "w2":
        return w.copy()
    if rule == "zplus":
        return np.where(w > 0, x, 0.0)
    if rule == "zb":
        low, high = _box(rule, low, high, w.size)
        return np.where(w > 0, x - low, x - high)
    return x.copy()


def root_point(rule, w, x, b, low=None, high=None) -> np.ndarray:
    """The root point a (f(a) = 0) that a rule expands the neuron around.

    - inactive neuron (w·x + b ≤ 0): a = x (already a root; all relevances are 0);
    - 'w2', 'zplus', 'zb': a = x + t·v with t = −(w·x + b)/(w·v) (see :func:`search_direction`);
      if w·v = 0 the line never meets the zero line and a is NaN;
    - 'lrp0': the origin (a root of the linear piece only if b = 0).
    """
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    z = float(w @ x + b)
    if rule == "lrp0":
        return np.zeros_like(x)
    v = search_direction(rule, w, x, low, high)
    if z <= 0:
        return x.copy()
    denominator = float(w @ v)
    if denominator == 0.0:
        return np.full_like(x, np.nan)
    t = -z / denominator
    return x + t * v


def step_t(rule, w, x, b, low=None, high=None) -> float:
    """t = −(w·x + b)/(w·v): how far along the direction v the root point lies."""
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    v = search_direction(rule, w, x, low, high)
    denominator = float(w @ v)
    if denominator == 0.0:
        return float("nan")
    return -float(w @ x + b) / denominator


def relevance(rule, w, x, b, low=None, high=None) -> np.ndarray:
    """Rᵢ = wᵢ (xᵢ − aᵢ): the first-order Taylor terms around the rule's root point a.

    Σ Rᵢ = f(x) for 'w2', 'zplus', 'zb' (when a root exists on the line, i.e. w·v ≠ 0; otherwise
    all Rᵢ are 0 and the bias alone explains the output); Σ Rᵢ = f(x) − b for 'lrp0'.
    Inactive neuron: all Rᵢ = 0.
    """
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    if float(w @ x + b) <= 0:
        return np.zeros_like(x)
    a = root_point(rule, w, x, b, low, high)
    if np.any(np.isnan(a)):
        return np.zeros_like(x)
    return w * (x - a) + 0.0  # + 0.0 turns -0.0 into 0.0 for printing


def rule_relevance(rule, w, x, b, low=None, high=None) -> np.ndarray:
    """The same relevances from the rules' published formulas (no root point in sight).

    w²: wᵢ²/Σw² · f;  z⁺: xᵢwᵢ⁺/Σxw⁺ · f;  z^B: (xᵢwᵢ − lᵢwᵢ⁺ − hᵢwᵢ⁻)/Σ(…) · f;  LRP-0: xᵢwᵢ.
    """
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    f = max(0.0, float(w @ x + b))
    if f == 0.0:
        return np.zeros_like(x)
    if rule == "lrp0":
        return x * w + 0.0
    if rule == "w2":
        z = w ** 2
    elif rule == "zplus":
        z = x * np.maximum(w, 0)
    else:
        low, high = _box(rule, low, high, w.size)
        z = x * w - low * np.maximum(w, 0) - high * np.minimum(w, 0)
    total = z.sum()
    if total == 0.0:
        return np.zeros_like(x)
    return z / total * f + 0.0


def in_domain(rule, a, low=None, high=None, tol: float = 1e-9) -> bool:
    """Does the root point a lie in the rule's input domain (ℝ², x ≥ 0, or the box)?"""
    rule = canonical_rule(rule)
    a = _vector("a", a)
    if np.any(np.isnan(a)):
        return False
    if rule in ("w2", "lrp0"):
        return True
    if rule == "zplus":
        return bool(np.all(a >= -tol))
    low, high = _box(rule, low, high, a.size)
    return bool(np.all(a >= low - tol) and np.all(a <= high + tol))


def is_root(w, a, b, tol: float = 1e-9) -> bool:
    """Is a a root of the neuron's linear piece, w·a + b = 0 (so the expansion has no f(a) term)?"""
    w = _vector("w", w)
    a = _vector("a", a, w.size)
    if np.any(np.isnan(a)):
        return False
    return abs(float(w @ a + b)) <= tol * max(1.0, float(np.abs(w).sum()), abs(float(b)))


def gradient_x_input(w, x, b) -> np.ndarray:
    """∂f/∂xᵢ · xᵢ for the neuron: wᵢxᵢ when active, 0 when inactive."""
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    return w * x if float(w @ x + b) > 0 else np.zeros_like(x)


def explain_neuron(rule, w, x, b, low=None, high=None) -> dict:
    """Everything the explorer shows, in one dict: f, t, v, a, R, in_domain, is_root, …"""
    rule = canonical_rule(rule)
    w = _vector("w", w)
    x = _vector("x", x, w.size)
    z = float(w @ x + b)
    a = root_point(rule, w, x, b, low, high)
    R = relevance(rule, w, x, b, low, high)
    return {
        "rule": rule,
        "rule_name": RULE_NAMES[rule],
        "domain": DOMAIN_NAMES[rule],
        "z": z,
        "f": max(0.0, z),
        "active": z > 0,
        "direction": search_direction(rule, w, x, low, high) if z > 0 else np.zeros_like(x),
        "t": step_t(rule, w, x, b, low, high) if z > 0 and rule != "lrp0" else 0.0,
        "root_point": a,
        "relevance": R,
        "sum_R": float(R.sum()),
        "in_domain": in_domain(rule, a, low, high) if rule != "zb" or low is not None else True,
        "is_root": is_root(w, a, b) if z > 0 else True,
    }


def show(*items) -> None:
    """Display sympy results as LaTeX lines in Jupyter: ``show("t", t, "a", a)``.

    Takes (label, expression) pairs. Outside IPython it prints ``label = expression``. (sympy's
    LaTeX layout changes between versions: notebooks tag the cells that use this
    ``nbval-ignore-output`` and check the same expressions with ``symbolic_equal``.)
    """
    if len(items) % 2:
        raise ValueError("show() takes (label, expression) pairs, e.g. show('t', t).")
    pairs = list(zip(items[::2], items[1::2]))
    try:
        from IPython import get_ipython
        from IPython.display import Math, display
    except ImportError:  # pragma: no cover - IPython is a dependency of Jupyter
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        for label, expression in pairs:
            display(Math(f"{label} = {sympy.latex(expression)}"))
    else:
        for label, expression in pairs:
            print(f"{label} = {expression}")
