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
