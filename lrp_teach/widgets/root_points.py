"""Explore root points of one ReLU neuron: which point each LRP rule expands around.

:func:`plot_root_points` draws one static figure (used by notebook 02 for every rule, and by the
committed notebook for readers without a running kernel); :func:`root_point_explorer` wraps the
*same* function in ipywidgets sliders (w₁, w₂, b, x₁, x₂) and a rule selector. Without ipywidgets
(or outside Jupyter) the explorer falls back to the static figure.

Left panel: the input plane with the neuron's output f(x) = max(0, w·x + b) as filled contours,
the zero line w·x + b = 0, the rule's domain (ℝ², the positive orthant or the box l ≤ x ≤ h), the
input x, the search line x + t·v and the root point a. Right panel: f(x) split into R₁ + R₂.
"""

from __future__ import annotations

import numpy as np

from .. import taylor

DEFAULT_W = (1.0, -0.6)
DEFAULT_X = (1.2, 0.8)
DEFAULT_B = -0.3
DEFAULT_LOW = (-0.5, -0.5)
DEFAULT_HIGH = (1.5, 1.5)
_GOOD, _BAD = "#1a9641", "#d7191c"
_SEARCH = "#08306b"     # dark blue: visible on the whole orange scale of f(x)
#: The rule names as figure titles (mathtext, so that z^B renders as a superscript).
TITLE_NAMES = {"w2": "$w^2$ rule", "zplus": "$z^+$ rule", "zb": r"$z^{\mathcal{B}}$ rule",
               "lrp0": "LRP-0 ($z$ rule)"}


def _limits(points, pad=0.5, minimum=(-1.0, 2.5)):
    """Square view that contains all finite points, with a margin."""
    points = np.array([p for p in points if np.all(np.isfinite(p))] or [[0.0, 0.0]])
    low = min(minimum[0], points.min() - pad)
    high = max(minimum[1], points.max() + pad)
    return low, high


def _linear_text(w, b):
    """'1·x₁ − 0.5·x₂ + 0.2' (signs written once, not '+ -0.5')."""
    text = f"{w[0]:g}·x₁"
    for value, name in ((w[1], "·x₂"), (b, "")):
        text += f" {'−' if value < 0 else '+'} {abs(value):g}{name}"
    return text


def plot_root_points(w=DEFAULT_W, x=DEFAULT_X, b=DEFAULT_B, rule="w2", low=DEFAULT_LOW,
                     high=DEFAULT_HIGH, figure=None, view=None):
    """Draw the root point a rule picks for the neuron f(x) = max(0, w·x + b). Returns the Figure.

    Parameters
    ----------
    w, x : 2 numbers each (weights, input). b : the bias.
    rule : 'w2', 'zplus', 'zb' or 'lrp0' (aliases 'w²', 'z+', 'zB', 'LRP-0').
    low, high : the box of the z^B rule (drawn for that rule only).
    figure : a matplotlib Figure to draw into (cleared first); a new one if None.
    view : (lo, hi) limits of both axes; chosen to show x, a and the domain if None.
    """
    import matplotlib.pyplot as plt

    rule = taylor.canonical_rule(rule)
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    if w.shape != (2,) or x.shape != (2,):
        raise ValueError(f"the explorer draws a 2-input neuron: w and x need 2 numbers each, got "
                         f"shapes {w.shape} and {x.shape}.")
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    info = taylor.explain_neuron(rule, w, x, b, low, high)
    a = info["root_point"]

    if figure is None:
        figure = plt.figure(figsize=(10.0, 5.4))
    figure.clf()
    figure.set_layout_engine("constrained")
    grid = figure.add_gridspec(1, 2, width_ratios=(1.35, 1.0))
    ax = figure.add_subplot(grid[0])
    bars = figure.add_subplot(grid[1])

    lo, hi = view if view is not None else _limits([x, a, low, high, np.zeros(2)])
    _draw_neuron_output(figure, ax, w, b, lo, hi)
    _draw_zero_line(ax, w, b, lo, hi)
    _draw_domain(ax, rule, low, high, hi)
    _draw_search(ax, rule, info, w, x, a, lo, hi)
    _finish_input_plane(ax, info, a, lo, hi)
    _draw_relevance_bars(bars, rule, info)
    return figure


# --------------------------------------------------------------------------------------------
# The pieces of plot_root_points, in the order it draws them
# --------------------------------------------------------------------------------------------

def _draw_neuron_output(figure, ax, w, b, lo, hi):
    """The input plane: f(x) = max(0, w·x + b) as filled contours, with its colour bar."""
    grid_values = np.linspace(lo, hi, 121)
    X1, X2 = np.meshgrid(grid_values, grid_values)
    F = np.maximum(0.0, w[0] * X1 + w[1] * X2 + b)
    top = max(F.max(), 1e-6)
    filled = ax.contourf(X1, X2, F, levels=np.linspace(0, top, 11), cmap="Oranges", alpha=0.85)
    figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.03, label="f(x) = max(0, w·x + b)")


def _draw_zero_line(ax, w, b, lo, hi):
    """The zero line w·x + b = 0, where it crosses the view (none if w = 0)."""
    if np.any(w != 0):
        if abs(w[1]) >= abs(w[0]):
            line_x1 = np.array([lo, hi])
            line_x2 = -(w[0] * line_x1 + b) / w[1]
        else:
            line_x2 = np.array([lo, hi])
            line_x1 = -(w[1] * line_x2 + b) / w[0]
        ax.plot(line_x1, line_x2, color="black", lw=2, label="zero line w·x + b = 0")


def _draw_domain(ax, rule, low, high, hi):
    """The rule's domain, hatched: the positive orthant (z+) or the box l ≤ x ≤ h (z^B)."""
    from matplotlib.patches import Rectangle

    if rule == "zplus":
        ax.add_patch(Rectangle((0, 0), hi, hi, facecolor="none", edgecolor="#2b83ba",
                               hatch="//", lw=1.5, label="domain: x ≥ 0"))
    elif rule == "zb":
        ax.add_patch(Rectangle(tuple(low), *(high - low), facecolor="none", edgecolor="#2b83ba",
                               hatch="//", lw=1.5, label="domain: l ≤ x ≤ h"))


def _draw_search(ax, rule, info, w, x, a, lo, hi):
    """The search line x + t·v, the arrow from x to the root point a, x and a themselves (green
    if a is a root inside the domain, else red), and for w² the weight vector."""
    good = info["in_domain"] and info["is_root"]
    colour = _GOOD if good else _BAD
    name = "expansion point" if rule == "lrp0" else "root point"
    if info["active"] and np.all(np.isfinite(a)):
        ax.annotate("", xy=a, xytext=x, zorder=3,
                    arrowprops=dict(arrowstyle="->", lw=2, color=colour))
        ax.plot([], [], color=colour, lw=2, label=f"from x to the {name}")  # the arrow's entry
        if rule != "lrp0" and np.any(info["direction"] != 0):
            v = info["direction"] / np.linalg.norm(info["direction"])
            span = 2 * (hi - lo)
            ax.plot([x[0] - span * v[0], x[0] + span * v[0]],
                    [x[1] - span * v[1], x[1] + span * v[1]], ls=(0, (4, 2)), color=_SEARCH,
                    lw=1.4, zorder=2, label="search line x + t·v")
    ax.plot(*x, "o", color="black", ms=8, label=f"x = ({x[0]:.2f}, {x[1]:.2f})")
    if np.all(np.isfinite(a)):
        ax.plot(*a, "*", color=colour, ms=16, mec="black",
                label=f"{name} a = ({a[0]:.2f}, {a[1]:.2f})")
    if rule == "w2":  # the weight vector: the direction of steepest ascent of f
        ax.annotate("", xy=x + 0.5 * w / max(np.linalg.norm(w), 1e-9), xytext=x,
                    arrowprops=dict(arrowstyle="-|>", color="#5e3c99", lw=1.5))
        ax.plot([], [], color="#5e3c99", label="direction w")


def _finish_input_plane(ax, info, a, lo, hi):
    """Limits, axes, labels, the title saying whether a is a root in the domain, the legend."""
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    if not info["active"]:
        status = "neuron inactive: f(x) = 0, R = 0"
    elif not np.all(np.isfinite(a)):
        status = "no root on the search line (w·v = 0)"
    elif info["rule"] == "w2":   # its domain is all of ℝ²: the only question is the root
        status = f"w·a + b = 0: {'yes' if info['is_root'] else 'NO'}"
    else:
        status = (f"a in domain: {'yes' if info['in_domain'] else 'NO'}; "
                  f"w·a + b = 0: {'yes' if info['is_root'] else 'NO'}")
    ax.set_title(f"{TITLE_NAMES[info['rule']]}: {status}", fontsize=10)
    # below the plane, never on top of x, the arrow or the search line
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=7.5,
              frameon=False)


def _draw_relevance_bars(bars, rule, info):
    """The bar chart f(x) = R₁ + R₂ (and whether it is conserved)."""
    R, f = info["relevance"], info["f"]
    labels = ["R₁", "R₂", "R₁ + R₂", "f(x)"]
    values = [R[0], R[1], info["sum_R"], f]
    colours = ["#d7191c" if value > 0 else "#2b83ba" for value in values[:3]] + ["#636363"]
    bars.bar(labels, values, color=colours)
    bars.axhline(0, color="black", lw=0.8)
    for i, value in enumerate(values):
        bars.annotate(f"{value:.3f}", (i, value), ha="center",
                      va="bottom" if value >= 0 else "top", fontsize=9)
    span = max(1e-3, max(abs(v) for v in values))
    bars.set_ylim(min(0.0, min(values)) - 0.15 * span, max(0.0, max(values)) + 0.2 * span)
    bars.set_ylabel("relevance")
    conserved = np.isclose(info["sum_R"], f, atol=1e-9)
    if conserved:
        bars.set_title("f(x) split into R₁ + R₂")
    elif rule == "lrp0":
        bars.set_title("not conserved: R₁ + R₂ = f(x) − b")
    else:
        bars.set_title("f(x) split into R₁ + R₂  (not conserved!)")


def root_point_explorer(w=DEFAULT_W, x=DEFAULT_X, b=DEFAULT_B, rule="w2", low=DEFAULT_LOW,
                        high=DEFAULT_HIGH):
    """Sliders for w₁, w₂, b, x₁, x₂ and a rule selector around :func:`plot_root_points`.

    Returns an ``ipywidgets.VBox`` (display it, or leave it as the cell's last line). Without
    ipywidgets it draws the static figure instead and returns that Figure.
    """
    try:
        import ipywidgets as widgets
    except ImportError:  # degrade gracefully: same picture, no sliders
        print("ipywidgets is not installed: showing a static figure (pip install ipywidgets for "
              "the sliders).")
        return plot_root_points(w, x, b, rule, low, high)
    import matplotlib.pyplot as plt

    from ._static import ExplorerBox, figure_png

    def slider(description, value, lo, hi):
        return widgets.FloatSlider(value=float(value), min=lo, max=hi, step=0.05,
                                   description=description, continuous_update=False,
                                   readout_format=".2f")

    controls = {
        "w1": slider("w₁", w[0], -2.0, 2.0),
        "w2": slider("w₂", w[1], -2.0, 2.0),
        "b": slider("b", b, -2.0, 2.0),
        "x1": slider("x₁", x[0], -1.0, 2.5),
        "x2": slider("x₂", x[1], -1.0, 2.5),
        "rule": widgets.ToggleButtons(
            options=[(taylor.RULE_NAMES[name], name) for name in taylor.RULES],
            value=taylor.canonical_rule(rule), description="rule"),
    }

    def draw(w1, w2, b, x1, x2, rule):
        figure = plot_root_points((w1, w2), (x1, x2), b, rule, low, high, view=(-1.5, 3.0))
        plt.show()
        plt.close(figure)

    output = widgets.interactive_output(draw, controls)
    sliders = widgets.HBox([
        widgets.VBox([controls["w1"], controls["w2"], controls["b"]]),
        widgets.VBox([controls["x1"], controls["x2"]]),
    ])
    def static_figure():  # the picture readers without a live kernel see (see _static.py)
        values = {name: control.value for name, control in controls.items()}
        return figure_png(lambda figure: plot_root_points(
            (values["w1"], values["w2"]), (values["x1"], values["x2"]), values["b"],
            values["rule"], low, high, figure=figure, view=(-1.5, 3.0)), figsize=(10.0, 5.4))

    explorer = ExplorerBox([controls["rule"], sliders, output], static_figure,
                           "Root-point explorer")
    explorer.controls = controls  # for tests and curious students
    return explorer


def plot_neuron_surface(w=DEFAULT_W, b=DEFAULT_B, x=None, a=None, view=(-1.0, 2.5)):
    """3-D surface of f(x) = max(0, w·x + b) over the input plane: a flat floor and a tilted plane.

    Optionally marks an input x (with its height f(x)) and a root point a (on the floor's edge).
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    w = np.asarray(w, dtype=float)
    values = np.linspace(view[0], view[1], 71)
    X1, X2 = np.meshgrid(values, values)
    F = np.maximum(0.0, w[0] * X1 + w[1] * X2 + b)
    figure = plt.figure(figsize=(7.2, 5.6))
    ax = figure.add_subplot(projection="3d", computed_zorder=False)
    ax.plot_surface(X1, X2, F, cmap="Oranges", edgecolor="none", alpha=0.55, zorder=1)
    # the kink: the zero line on the floor
    if abs(w[1]) > 1e-12:
        line = -(w[0] * values + b) / w[1]
        keep = (line >= view[0]) & (line <= view[1])
        ax.plot(values[keep], line[keep], 0 * values[keep], color="black", lw=2, zorder=3,
                label="zero line w·x + b = 0")
    if x is not None:
        x = np.asarray(x, dtype=float)
        fx = max(0.0, float(w @ x + b))
        ax.plot([x[0], x[0]], [x[1], x[1]], [0, fx], color="black", ls="--", lw=1, zorder=4)
        ax.scatter(*x, fx, color="black", s=50, depthshade=False, zorder=5, label="(x, f(x))")
    if a is not None:
        a = np.asarray(a, dtype=float)
        if x is not None:  # the walk from (the foot of) x to the root point, on the floor
            ax.plot([x[0], a[0]], [x[1], a[1]], [0, 0], color=_GOOD, lw=2, zorder=4,
                    label="walk from x to a")
        ax.scatter(*a, 0.0, color=_GOOD, marker="*", s=220, edgecolor="black", depthshade=False,
                   zorder=5, label="root point a, f(a) = 0")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_zlabel("f(x)")
    ax.set_title(f"f(x) = max(0, {_linear_text(w, b)})")
    ax.view_init(elev=25, azim=-125)
    ax.legend(loc="upper left", fontsize=8)
    return figure
