"""The root-point explorer: static figure for every rule, and the interactive wrapper."""

import builtins

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lrp_teach import taylor  # noqa: E402
from lrp_teach.widgets.root_points import (  # noqa: E402
    TITLE_NAMES, plot_root_points, root_point_explorer)


@pytest.mark.parametrize("rule", taylor.RULES)
def test_static_figure_for_every_rule(rule):
    figure = plot_root_points(rule=rule)
    plane, bars, colorbar = figure.axes
    assert plane.get_xlabel() == "x₁" and plane.get_ylabel() == "x₂"
    assert plane.get_title().startswith(TITLE_NAMES[rule] + ":")
    assert "^B" not in plane.get_title().replace("^{\\mathcal{B}}", "")   # no raw z^B in a title
    # the legend sits below the plane (it hid the arrow and the search line inside it)
    figure.canvas.draw()
    legend_box = plane.get_legend().get_window_extent()
    assert legend_box.y1 <= plane.get_window_extent().y0 + 1
    # the arrow from x to a has its own entry, in the arrow's colour (green: a root in the domain)
    entries = dict(zip([t.get_text() for t in plane.get_legend().get_texts()],
                       plane.get_legend().legend_handles))
    walk = "from x to the " + ("expansion point" if rule == "lrp0" else "root point")
    assert walk in entries
    assert matplotlib.colors.same_color(entries[walk].get_color(),
                                        plane.texts[0].arrow_patch.get_edgecolor())
    heights = [patch.get_height() for patch in bars.patches]
    info = taylor.explain_neuron(rule, (1.0, -0.6), (1.2, 0.8), -0.3, (-0.5, -0.5), (1.5, 1.5))
    np.testing.assert_allclose(heights, [*info["relevance"], info["sum_R"], info["f"]])
    plt.close(figure)


def test_figure_reports_root_outside_domain_and_inactive_neuron():
    figure = plot_root_points(w=(1.0, -0.6), x=(1.2, 0.8), b=0.6, rule="zplus")
    assert "a in domain: NO" in figure.axes[0].get_title()
    plt.close(figure)
    figure = plot_root_points(w=(1.0, -0.6), x=(0.1, 0.8), b=-0.3, rule="w2")
    assert "inactive" in figure.axes[0].get_title()
    plt.close(figure)
    figure = plot_root_points(rule="w2")   # w²'s domain is all of ℝ²: the title does not ask
    assert "domain" not in figure.axes[0].get_title() and "w·a + b = 0: yes" in figure.axes[0].get_title()
    plt.close(figure)
    figure = plot_root_points(rule="lrp0", b=-0.3)
    assert "w·a + b = 0: NO" in figure.axes[0].get_title()
    assert "not conserved" in figure.axes[1].get_title()
    plt.close(figure)


def test_figure_can_be_redrawn_into_the_same_figure():
    figure = plot_root_points(rule="w2")
    again = plot_root_points(rule="zb", figure=figure, view=(-1.5, 3.0))
    assert again is figure and len(figure.axes) == 3
    assert figure.axes[0].get_xlim() == (-1.5, 3.0)
    plt.close(figure)


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="2 numbers each"):
        plot_root_points(w=(1.0, 2.0, 3.0), x=(1.0, 1.0, 1.0))


def test_explorer_has_sliders_and_rule_selector():
    import ipywidgets as widgets

    explorer = root_point_explorer(rule="z+")
    assert isinstance(explorer, widgets.VBox)
    controls = explorer.controls
    assert set(controls) == {"w1", "w2", "b", "x1", "x2", "rule"}
    assert controls["rule"].value == "zplus"
    assert set(controls["rule"].options) == {(taylor.RULE_NAMES[r], r) for r in taylor.RULES}
    controls["rule"].value = "zb"  # redraws without error
    controls["b"].value = 1.5
    plt.close("all")


def test_explorer_degrades_to_a_static_figure_without_ipywidgets(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_ipywidgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("no ipywidgets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipywidgets)
    result = root_point_explorer()
    assert isinstance(result, matplotlib.figure.Figure)
    assert "static figure" in capsys.readouterr().out
    plt.close(result)


def test_neuron_surface_figure():
    from lrp_teach.widgets.root_points import plot_neuron_surface

    figure = plot_neuron_surface((1.0, 0.5), -0.5, x=(1.0, 1.5), a=(0.0, 1.0))
    ax = figure.axes[0]
    assert ax.get_zlabel() == "f(x)"
    assert ax.get_title() == "f(x) = max(0, 1·x₁ + 0.5·x₂ − 0.5)"
    plt.close(figure)
