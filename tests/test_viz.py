"""viz.to_map: one image's pixel relevance, the same helper as metrics.pixel_relevance."""

import numpy as np
import pytest

from lrp_teach import metrics, viz


def test_to_map_sums_channels_like_pixel_relevance():
    relevance = np.random.default_rng(0).normal(size=(5, 4, 3))
    assert np.array_equal(viz.to_map(relevance), metrics.pixel_relevance(relevance[None])[0])
    assert np.allclose(viz.to_map(relevance), relevance.sum(axis=-1))
    assert np.array_equal(viz.to_map(relevance[None]), viz.to_map(relevance))   # batch of one
    assert np.array_equal(viz.to_map(relevance[..., 0]), relevance[..., 0])     # (H, W) as is


def test_to_map_names_the_problem():
    with pytest.raises(ValueError, match="one image of a batch"):
        viz.to_map(np.zeros((2, 4, 4, 3)))


@pytest.mark.parametrize("size", [3e-7, 2e-4, 40.0])
def test_colour_bar_ticks_carry_their_own_exponent(size):
    """A shared offset ("1e-6" above the bar) ran into the panel's title in 06: every tick label
    states its own value instead, and the labels read back as the tick positions."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        heat = np.random.default_rng(1).normal(size=(16, 16)) * size
        artist = viz.plot_heatmap(ax, heat, kind="signed", colorbar=True, title="a title")
        fig.canvas.draw()
        bar_axis = artist.colorbar.ax.yaxis
        assert bar_axis.get_offset_text().get_text() == ""
        ticks = [t for t in bar_axis.get_ticklabels() if t.get_text()]
        assert len(ticks) >= 3
        for label in ticks:
            value = float(label.get_text().replace("\u2212", "-"))
            assert value == pytest.approx(label.get_position()[1], rel=5e-3, abs=1e-3 * size)
    finally:
        plt.close(fig)
