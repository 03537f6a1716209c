"""The lecture's heatmap colouring, reproduced: lrp_teach.lecture against the lecture's code.

``lecture_project_image`` below is the lecture's ``project_image`` as printed in its slides
(/work/shared/seed, "LRP 출력 결과를 normalize하는 함수"), NumPy only, with the OCR's round brackets
``image(mask)`` read as indexing ``image[mask]``. It is the reference: the port must give the same
numbers and fail where it fails.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from lrp_teach import lecture, viz


def lecture_project_image(image, output_range=(0, 1), absmax=None, input_is_positive_only=False):
    if absmax is None:
        absmax = np.max(np.abs(image), axis=tuple(range(1, len(image.shape))))
    absmax = np.asarray(absmax)
    mask = (absmax != 0)
    if mask.sum() > 0:
        image[mask] /= absmax[mask]
    if not input_is_positive_only:
        image = (image + 1) / 2
    image = image.clip(0, 1)
    projection = output_range[0] + image * (output_range[1] - output_range[0])
    return projection


def lecture_heatmap(image, cmap_type="rainbow", reduce_op="sum", reduce_axis=-1, **kwargs):
    cmap = matplotlib.colormaps[cmap_type]          # the lecture: get_cmap(cmap_type)
    shape = list(image.shape)
    reduced_image = image.sum(axis=-1)
    projected_image = lecture_project_image(reduced_image, **kwargs)
    heatmap = cmap(projected_image.flatten())[:, :3].T
    heatmap = heatmap.T
    shape[reduce_axis] = 3
    return heatmap.reshape(shape)


def test_the_lecture_divides_column_j_by_the_absmax_of_row_j():
    # what the reference really does, written from the broadcasting rule, not from its code
    heat = np.array([[1.0, 2.0, 4.0],
                     [0.5, 1.0, 1.0],
                     [3.0, 0.0, -6.0]])
    row_absmax = np.abs(heat).max(axis=1)                        # [4, 1, 6]: one per ROW
    by_column_index = np.clip((heat / row_absmax[None, :] + 1) / 2, 0, 1)
    np.testing.assert_allclose(lecture_project_image(heat.copy()), by_column_index)
    # ... which is neither the global scaling nor a per-row scaling
    global_scale = (heat / 6.0 + 1) / 2
    per_row = (heat / row_absmax[:, None] + 1) / 2
    assert not np.allclose(by_column_index, global_scale)
    assert not np.allclose(by_column_index, per_row)
    # pixel (0, 1) = 2 is divided by row 1's absmax 1: 2 -> 1.5 before the clip
    assert by_column_index[0, 1] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_port_matches_the_lecture_on_square_maps(seed):
    rng = np.random.default_rng(seed)
    heat = (rng.normal(size=(16, 16)) * rng.uniform(0.1, 10.0, size=(16, 1))).astype(np.float32)
    np.testing.assert_array_equal(lecture.project_image(heat), lecture_project_image(heat.copy()))
    relevance = rng.normal(size=(16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(lecture.heatmap(relevance), lecture_heatmap(relevance.copy()))
    # the options pass through
    np.testing.assert_array_equal(
        lecture.project_image(heat, output_range=(-1, 1), input_is_positive_only=True),
        lecture_project_image(heat.copy(), output_range=(-1, 1), input_is_positive_only=True))
    # unlike the original, the port leaves its input alone
    before = heat.copy()
    lecture.project_image(heat)
    np.testing.assert_array_equal(heat, before)


def test_an_all_zero_row_fails_as_in_the_lecture():
    heat = np.random.default_rng(0).normal(size=(6, 6))
    heat[2] = 0.0
    with pytest.raises(ValueError, match="broadcast"):
        lecture_project_image(heat.copy())
    with pytest.raises(ValueError, match="1 of its 6 rows are all zero"):
        lecture.project_image(heat)
    with pytest.raises(ValueError, match="all zero"):
        lecture.heatmap(heat[..., None])
    # a map that is zero everywhere passes (nothing is divided): all 0.5, the rainbow's middle
    np.testing.assert_array_equal(lecture.project_image(np.zeros((4, 4))), np.full((4, 4), 0.5))
    np.testing.assert_array_equal(lecture_project_image(np.zeros((4, 4))), np.full((4, 4), 0.5))
    # one non-zero row among zero rows broadcasts (k = 1): the lecture's code runs, so does the port
    single = np.zeros((3, 3))
    single[1] = [1.0, -2.0, 0.5]
    np.testing.assert_array_equal(lecture.project_image(single), lecture_project_image(single.copy()))


def test_a_non_square_map_fails_as_in_the_lecture():
    heat = np.ones((4, 6))
    with pytest.raises(ValueError):
        lecture_project_image(heat.copy())
    with pytest.raises(ValueError, match="rows"):
        lecture.project_image(heat)


def test_the_lecture_map_is_symmetric_and_zero_is_bright_green():
    # (R/s + 1)/2: +r and -r land symmetrically around 0.5, so the sign is in the colour
    heat = np.array([[-1.0, 0.0, 1.0]])
    projected = lecture.project_image(heat)
    np.testing.assert_allclose(projected, [[0.0, 0.5, 1.0]])
    zero = matplotlib.colormaps["rainbow"](0.5)[:3]
    assert zero[1] > 0.99 and zero[0] > 0.45        # green channel ~1, not a neutral grey/white
    rgb = lecture.heatmap(heat[..., None])
    np.testing.assert_allclose(rgb[0, 1], zero)
    assert not np.allclose(rgb[0, 0], rgb[0, 2])


def test_rainbow_heatmap_uses_one_scale_for_the_whole_map():
    heat = np.array([[1.0, 2.0, 4.0],
                     [0.5, 1.0, 1.0],
                     [3.0, 0.0, -6.0]])
    expected = matplotlib.colormaps["rainbow"](np.clip((heat / 6.0 + 1) / 2, 0, 1))[..., :3]
    np.testing.assert_allclose(viz.rainbow_heatmap(heat), expected)
    expected_3 = matplotlib.colormaps["rainbow"](np.clip((heat / 3.0 + 1) / 2, 0, 1))[..., :3]
    np.testing.assert_allclose(viz.rainbow_heatmap(heat, scale=3.0), expected_3)
    # the same map with a zero row: the corrected map has no trouble
    heat[1] = 0
    assert np.isfinite(viz.rainbow_heatmap(heat)).all()
