"""Evaluation metrics on toy cases whose answer is known by hand."""

import numpy as np
import pytest

from lrp_teach import metrics


def _mask(size=4, cells=((0, 0), (0, 1))):
    mask = np.zeros((1, size, size), dtype=bool)
    for r, c in cells:
        mask[0, r, c] = True
    return mask


def test_pixel_relevance_sums_channels():
    relevance = np.ones((2, 3, 3, 3))
    assert metrics.pixel_relevance(relevance).shape == (2, 3, 3)
    assert np.all(metrics.pixel_relevance(relevance) == 3)
    with pytest.raises(ValueError, match="batch axis"):
        metrics.pixel_relevance(np.ones(5))


def test_relevance_mass_accuracy_known_values():
    mask = _mask()
    relevance = np.zeros((1, 4, 4))
    relevance[0, 0, 0] = 3.0          # inside
    relevance[0, 3, 3] = 1.0          # outside
    relevance[0, 2, 2] = -5.0         # negative: ignored
    assert metrics.relevance_mass_accuracy(relevance, mask)[0] == pytest.approx(0.75)
    # all positive relevance inside -> 1; none positive -> 0
    assert metrics.relevance_mass_accuracy(mask * 2.0, mask)[0] == 1.0
    assert metrics.relevance_mass_accuracy(-np.ones((1, 4, 4)), mask)[0] == 0.0
    # uniform relevance -> the mask's share of the image
    assert metrics.relevance_mass_accuracy(np.ones((1, 4, 4)), mask)[0] == pytest.approx(2 / 16)


def test_relevance_rank_accuracy_known_values():
    mask = _mask()                    # K = 2
    relevance = np.zeros((1, 4, 4))
    relevance[0, 0, 0] = 5.0          # inside, rank 1
    relevance[0, 1, 1] = 4.0          # outside, rank 2
    relevance[0, 0, 1] = 3.0          # inside, rank 3 (beyond K)
    assert metrics.relevance_rank_accuracy(relevance, mask)[0] == pytest.approx(0.5)
    relevance[0, 0, 1] = 4.5
    assert metrics.relevance_rank_accuracy(relevance, mask)[0] == pytest.approx(1.0)


def test_pointing_game_known_values():
    mask = _mask()
    inside = np.zeros((1, 4, 4)); inside[0, 0, 1] = 1.0
    outside = np.zeros((1, 4, 4)); outside[0, 3, 0] = 1.0
    scores = metrics.pointing_game(np.concatenate([inside, outside]), np.concatenate([mask, mask]))
    assert scores.tolist() == [1.0, 0.0]


def test_ties_are_broken_at_random_in_rank_accuracy_and_pointing_game():
    # a flat map (Grad-CAM's zeros, a z⁺ map without evidence): every pixel ties. With reading
    # order the mask in the first rows would always win; random ties score the mask's share.
    masks = np.zeros((400, 8, 8), bool)
    masks[:, :2, :] = True                          # the first 16 pixels in reading order: 1/4
    flat = np.zeros((400, 8, 8))
    assert metrics.relevance_rank_accuracy(flat, masks, seed=None).mean() == 1.0
    assert metrics.pointing_game(flat, masks, seed=None).mean() == 1.0
    assert abs(metrics.relevance_rank_accuracy(flat, masks).mean() - 0.25) < 0.02
    assert abs(metrics.pointing_game(flat, masks).mean() - 0.25) < 0.07
    # seeded: the same seed, the same result; ties only -- a strict maximum still wins
    np.testing.assert_array_equal(metrics.pointing_game(flat, masks, seed=3),
                                  metrics.pointing_game(flat, masks, seed=3))
    peak = flat.copy()
    peak[:, 7, 7] = 1.0                             # outside the mask
    assert metrics.pointing_game(peak, masks).sum() == 0.0


def test_edge_map_is_the_sobel_magnitude():
    image = np.zeros((1, 6, 6, 1))
    image[0, :, 3:, 0] = 1.0                        # a vertical step between columns 2 and 3
    edges = metrics.edge_map(image)[0]
    # Sobel Gx at the step: (1 + 2 + 1) * 1 = 4 on both columns next to it, 0 elsewhere
    np.testing.assert_allclose(edges[:, 2], 4.0)
    np.testing.assert_allclose(edges[:, 3], 4.0)
    np.testing.assert_allclose(edges[:, [0, 1, 4, 5]], 0.0)
    # a horizontal step gives the same magnitude (Gy); channels add up
    both = np.concatenate([image, np.transpose(image, (0, 2, 1, 3))], axis=-1)
    turned = metrics.edge_map(both)[0]
    np.testing.assert_allclose(turned, edges + edges.T)
    with pytest.raises(ValueError, match="N, H, W, C"):
        metrics.edge_map(image[0])


def test_shuffle_replacement_takes_the_images_own_pixels():
    rng = np.random.default_rng(0)
    images = rng.random((3, 5, 5, 3)).astype(np.float32)
    fill = metrics.replacement_values(images, "shuffle", seed=1)
    for original, shuffled in zip(images, fill):
        a = sorted(map(tuple, original.reshape(-1, 3)))
        b = sorted(map(tuple, shuffled.reshape(-1, 3)))
        assert a == b                                # a permutation of the image's own colours
    assert not np.array_equal(fill, images)
    np.testing.assert_array_equal(fill, metrics.replacement_values(images, "shuffle", seed=1))


def test_bad_masks_are_explained():
    with pytest.raises(ValueError, match="one .H, W. boolean mask"):
        metrics.relevance_mass_accuracy(np.ones((1, 4, 4)), np.ones((1, 3, 3), bool))
    with pytest.raises(ValueError, match="at least one True"):
        metrics.pointing_game(np.ones((1, 4, 4)), np.zeros((1, 4, 4), bool))


def test_random_baseline_scores_the_mask_share_on_average():
    size = 16
    masks = np.zeros((200, size, size), bool)
    masks[:, :4, :8] = True          # 32 / 256 = 1/8 of the image
    random = metrics.random_relevance(masks.shape, seed=1)
    assert abs(metrics.relevance_mass_accuracy(random, masks).mean() - 1 / 8) < 0.01
    assert abs(metrics.relevance_rank_accuracy(random, masks).mean() - 1 / 8) < 0.02
    assert abs(metrics.pointing_game(random, masks).mean() - 1 / 8) < 0.06
    np.testing.assert_array_equal(random, metrics.random_relevance(masks.shape, seed=1))


class _SumModel:
    """logit_c = sum of the image's pixels (all channels) times weight_c: known flipping curve."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, np.float32)

    def __call__(self, images, training=False):
        total = np.asarray(images).reshape(len(images), -1).sum(axis=1)
        return total[:, None] * self.weights[None, :]


def test_pixel_flipping_curve_and_aopc_on_a_linear_model():
    # one 2x2 grey-channel image with pixel values 4, 3, 2, 1; replacement by 0.
    image = np.array([[4.0, 3.0], [2.0, 1.0]], np.float32)[None, :, :, None]
    model = _SumModel([1.0, -1.0])
    good = image[..., 0]              # the true contributions: most relevant first = 4, 3, 2, 1
    curve = metrics.pixel_flipping(model, image, good, target=[0], steps=4, pixels_per_step=1,
                                   replacement=0.0)
    np.testing.assert_allclose(curve, [[10, 6, 3, 1, 0]])
    bad = -good                       # reversed order: 1, 2, 3, 4
    worse = metrics.pixel_flipping(model, image, bad, target=[0], steps=4, pixels_per_step=1,
                                   replacement=0.0)
    np.testing.assert_allclose(worse, [[10, 9, 7, 4, 0]])
    aopc_good = metrics.area_over_curve(curve)[0]
    aopc_bad = metrics.area_over_curve(worse)[0]
    assert aopc_good == pytest.approx((0 + 4 + 7 + 9 + 10) / 5)
    assert aopc_bad == pytest.approx((0 + 1 + 3 + 6 + 10) / 5)
    # the tracked logit is the target's: class 1 has the negated curve
    other = metrics.pixel_flipping(model, image, good, target=[1], steps=4, pixels_per_step=1,
                                   replacement=0.0)
    np.testing.assert_allclose(other, -curve)


def test_pixel_flipping_replacements_and_errors():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 4, 4, 3)).astype(np.float32)
    relevance = rng.normal(size=(3, 4, 4))
    model = _SumModel([1.0])
    for replacement in ("uniform", "mean", 0.5):
        curve = metrics.pixel_flipping(model, images, relevance, 0, steps=4, pixels_per_step=4,
                                       replacement=replacement)
        assert curve.shape == (3, 5)
        np.testing.assert_allclose(curve[:, 0], images.reshape(3, -1).sum(1), rtol=1e-5)
    # mean replacement of every pixel keeps the sum
    full = metrics.pixel_flipping(model, images, relevance, 0, steps=4, pixels_per_step=4,
                                  replacement="mean")
    np.testing.assert_allclose(full[:, -1], full[:, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="exceeds"):
        metrics.pixel_flipping(model, images, relevance, 0, steps=5, pixels_per_step=4)
    with pytest.raises(ValueError, match="replacement"):
        metrics.pixel_flipping(model, images, relevance, 0, steps=1, pixels_per_step=1,
                               replacement="zeros")
    with pytest.raises(ValueError, match="steps"):
        metrics.area_over_curve(np.ones((2, 1)))


def test_spearman_rank_correlation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 5, 5))
    np.testing.assert_allclose(metrics.spearman_rank_correlation(a, a), [1, 1])
    np.testing.assert_allclose(metrics.spearman_rank_correlation(a, -a), [-1, -1])
    # rank-based: any increasing transform keeps correlation 1
    np.testing.assert_allclose(metrics.spearman_rank_correlation(a, np.exp(3 * a)), [1, 1])
    # ties get average ranks; constant map -> 0
    assert metrics.spearman_rank_correlation(np.ones((1, 3, 3)), a[:1, :3, :3])[0] == 0.0
    x = np.array([[[1.0, 2.0, 2.0, 3.0]]])
    y = np.array([[[1.0, 2.5, 2.5, 4.0]]])
    assert metrics.spearman_rank_correlation(x, y)[0] == pytest.approx(1.0)
    independent = metrics.spearman_rank_correlation(rng.normal(size=(50, 8, 8)),
                                                    rng.normal(size=(50, 8, 8)))
    assert abs(independent.mean()) < 0.05


def test_cascading_randomization_goes_top_down_and_keeps_the_original():
    from lrp_teach._tf import keras

    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3, name="out")])
    original = [w.copy() for w in model.get_weights()]
    names, changed = [], []
    for name, randomized in metrics.cascading_randomization(model, seed=0):
        names.append(name)
        changed.append([not np.array_equal(a, b)
                        for a, b in zip(original[::2], randomized.get_weights()[::2])])
    assert names == ["out", "conv"]
    assert changed == [[False, True], [True, True]]
    for a, b in zip(original, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_cascading_randomization_yields_an_independent_model_per_step():
    # the old version yielded ONE model, mutated in place: list() gave N copies of the last step
    from lrp_teach._tf import keras

    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="a"),
                              keras.layers.Dense(3, name="b"), keras.layers.Dense(2, name="c")])
    original = [w.copy() for w in model.get_weights()]
    steps = list(metrics.cascading_randomization(model, seed=1))
    assert [name for name, _ in steps] == ["c", "b", "a"]
    assert len({id(m) for _, m in steps}) == 3 and all(m is not model for _, m in steps)
    kernels = {"a": 0, "b": 2, "c": 4}     # index of each layer's kernel in get_weights()
    for step, (name, randomized) in enumerate(steps):
        weights = randomized.get_weights()
        randomised_layers = ["c", "b", "a"][:step + 1]
        for layer, index in kernels.items():
            same = np.array_equal(weights[index], original[index])
            assert same == (layer not in randomised_layers), (name, layer)
    # the same seed gives the same models, another seed other ones
    again = list(metrics.cascading_randomization(model, seed=1))
    other = list(metrics.cascading_randomization(model, seed=2))
    for (_, m1), (_, m2), (_, m3) in zip(steps, again, other):
        for w1, w2, w3 in zip(m1.get_weights()[::2], m2.get_weights()[::2], m3.get_weights()[::2]):
            np.testing.assert_array_equal(w1, w2)
        assert not np.array_equal(m1.get_weights()[4], m3.get_weights()[4])


def test_cascading_randomization_uses_the_layers_own_initializers():
    # the old version reset every bias to zero whatever its initializer said
    from lrp_teach._tf import keras

    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(0.25),
                           bias_initializer=keras.initializers.Constant(0.7), name="d")])
    model.set_weights([np.full((4, 3), -2.0, np.float32), np.full(3, 5.0, np.float32)])
    [(_, randomized)] = list(metrics.cascading_randomization(model))
    kernel, bias = randomized.get_weights()
    np.testing.assert_array_equal(kernel, np.full((4, 3), 0.25))
    np.testing.assert_array_equal(bias, np.full(3, 0.7, np.float32))
    # a random initializer: drawn afresh within its range (glorot uniform: ±sqrt(6 / (in + out)))
    model = keras.Sequential([keras.Input((40,)), keras.layers.Dense(30, name="g")])
    model.set_weights([np.full((40, 30), 3.0, np.float32), np.full(30, 3.0, np.float32)])
    [(_, randomized)] = list(metrics.cascading_randomization(model, seed=0))
    kernel, bias = randomized.get_weights()
    limit = np.sqrt(6.0 / 70.0)
    assert np.abs(kernel).max() <= limit and kernel.std() > limit / 3
    np.testing.assert_array_equal(bias, np.zeros(30))       # Keras' default bias initializer


def _functional_model_with_batch_norm():
    from lrp_teach._tf import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(gamma_initializer=keras.initializers.Constant(2.0),
                                        name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = keras.layers.BatchNormalization(name="dw_bn")(y)
    x = keras.layers.Add(name="join")([x, y])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) + 1.5
                       for w in model.get_weights()])
    return model


def test_cascading_randomization_handles_batch_norm_and_a_dag():
    model = _functional_model_with_batch_norm()
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    steps = list(metrics.cascading_randomization(model, seed=0))
    assert [name for name, _ in steps] == ["head", "dw_bn", "dw", "stem_bn", "stem"]
    last = steps[-1][1]
    gamma, beta, moving_mean, moving_variance = last.get_layer("stem_bn").get_weights()
    np.testing.assert_array_equal(gamma, np.full(4, 2.0))      # its own gamma initializer
    np.testing.assert_array_equal(beta, np.zeros(4))
    # "keep": the moving statistics stay those of the trained model
    np.testing.assert_array_equal(moving_mean, before["stem_bn"][2])
    np.testing.assert_array_equal(moving_variance, before["stem_bn"][3])
    dw_kernel = last.get_layer("dw").get_weights()[0]
    assert not np.array_equal(dw_kernel, before["dw"][0]) and np.abs(dw_kernel).max() < 1.5
    # the step that randomised only "head" left the BatchNorm layers alone
    head_only = steps[0][1]
    for name in ("stem_bn", "dw_bn", "dw", "stem"):
        for w, w0 in zip(head_only.get_layer(name).get_weights(), before[name]):
            np.testing.assert_array_equal(w, w0)
    # every randomised model still runs
    x = np.random.default_rng(1).random((2, 8, 8, 3)).astype(np.float32)
    assert all(np.isfinite(m(x).numpy()).all() for _, m in steps)
    # "reset": moving mean 0 and variance 1
    reset = list(metrics.cascading_randomization(model, batch_norm_statistics="reset"))[-1][1]
    _, _, moving_mean, moving_variance = reset.get_layer("dw_bn").get_weights()
    np.testing.assert_array_equal(moving_mean, np.zeros(4))
    np.testing.assert_array_equal(moving_variance, np.ones(4))
    # skip leaves a layer as trained and makes it no step
    skipped = list(metrics.cascading_randomization(model, skip=["head"]))
    assert [name for name, _ in skipped][0] == "dw_bn"
    np.testing.assert_array_equal(skipped[-1][1].get_layer("head").get_weights()[0],
                                  before["head"][0])
    with pytest.raises(ValueError, match="batch_norm_statistics"):
        next(metrics.cascading_randomization(model, batch_norm_statistics="zero"))


def test_signed_and_absolute_correlations_differ_on_a_sign_flip():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 6, 6))
    np.testing.assert_allclose(metrics.spearman_rank_correlation(a, -a), -1.0)
    np.testing.assert_allclose(metrics.spearman_rank_correlation(a, -a, absolute=True), 1.0)
    np.testing.assert_allclose(metrics.pearson_correlation(a, -a), -1.0)
    np.testing.assert_allclose(metrics.pearson_correlation(a, -a, absolute=True), 1.0)


def _ssim_reference(x, y, data_range, window):
    """SSIM written out window by window (Wang et al. 2004, sample covariances)."""
    values = []
    for i in range(x.shape[0] - window + 1):
        for j in range(x.shape[1] - window + 1):
            p = x[i:i + window, j:j + window].ravel()
            q = y[i:i + window, j:j + window].ravel()
            c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
            cov = np.cov(p, q)           # divides by n - 1
            values.append((2 * p.mean() * q.mean() + c1) * (2 * cov[0, 1] + c2)
                          / ((p.mean() ** 2 + q.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2)))
    return np.mean(values)


def test_structural_similarity_matches_the_formula():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 10, 12))
    b = a + rng.normal(scale=0.5, size=a.shape)
    got = metrics.structural_similarity(a, b, window=5)
    for k in range(2):
        x = a[k] / np.abs(a[k]).max()
        y = b[k] / np.abs(b[k]).max()
        assert got[k] == pytest.approx(_ssim_reference(x, y, 2.0, 5), rel=1e-9)
    got_abs = metrics.structural_similarity(a, b, absolute=True, window=5)
    x, y = np.abs(a[0]), np.abs(b[0])
    assert got_abs[0] == pytest.approx(_ssim_reference(x / x.max(), y / y.max(), 1.0, 5), rel=1e-9)
    np.testing.assert_allclose(metrics.structural_similarity(a, 3 * a), 1.0)   # scale-free
    unrelated = metrics.structural_similarity(rng.normal(size=(20, 12, 12)),
                                              rng.normal(size=(20, 12, 12)))
    assert abs(unrelated.mean()) < 0.05
    with pytest.raises(ValueError, match="window"):
        metrics.structural_similarity(a, b, window=11)


def test_summarize_rounds_means():
    assert metrics.summarize({"a": np.array([0.1, 0.2]), "b": [1, 0]}) == {"a": 0.15, "b": 0.5}


def test_least_relevant_first_reverses_the_order():
    image = np.array([[4.0, 3.0], [2.0, 1.0]], np.float32)[None, :, :, None]
    model = _SumModel([1.0])
    curve = metrics.pixel_flipping(model, image, image[..., 0], target=0, steps=4,
                                   pixels_per_step=1, replacement=0.0, most_relevant_first=False)
    np.testing.assert_allclose(curve, [[10, 9, 7, 4, 0]])


def test_dilate_grows_masks_by_a_square():
    mask = np.zeros((1, 5, 5), bool)
    mask[0, 2, 2] = True
    assert metrics.dilate(mask, 1).sum() == 9
    assert metrics.dilate(mask, 2).sum() == 25
    np.testing.assert_array_equal(metrics.dilate(mask, 0), mask)
    corner = np.zeros((1, 4, 4), bool)
    corner[0, 0, 0] = True
    assert metrics.dilate(corner, 1).sum() == 4        # clipped at the border
    with pytest.raises(ValueError, match="pixels"):
        metrics.dilate(mask, -1)


# ---- the exercise answers of notebooks 04 and 05 (used by later cells and by the checkers) ----

def test_initial_relevance_keeps_only_the_target_logit():
    logits = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
    start = metrics.initial_relevance(logits, [2, 0])
    assert start.tolist() == [[0.0, 0.0, 3.0], [0.5, 0.0, 0.0]]
    # one int for every image; a negative logit keeps its sign
    assert metrics.initial_relevance(logits, 1).tolist() == [[0.0, -2.0, 0.0], [0.0, 4.0, 0.0]]
    # the sum per image is the explained logit (not 1, as for the softmax)
    assert np.allclose(metrics.initial_relevance(logits, [0, 1]).sum(axis=1), [1.0, 4.0])


@pytest.mark.parametrize("logits, target, problem", [
    (np.ones(3), 0, "batch axis"),
    (np.ones((2, 3)), [0, 1, 2], "one int per image"),
    (np.ones((2, 3)), [0, 3], "0..2"),
    (np.ones((2, 3)), [0.0, 1.0], "ints"),
])
def test_initial_relevance_rejects_bad_input(logits, target, problem):
    with pytest.raises(ValueError, match=problem):
        metrics.initial_relevance(logits, target)


def test_negative_share_known_values():
    relevance = np.zeros((3, 2, 2, 3))
    relevance[0, 0, 0] = [1.0, 1.0, 1.0]      # pixel +3
    relevance[0, 1, 1] = [-1.0, 0.0, 0.0]     # pixel -1
    relevance[1, 0, 0] = [2.0, -3.0, 0.0]     # channels mixed: the pixel is -1, all negative
    share = metrics.negative_share(relevance)
    assert share.shape == (3,)
    assert share[0] == pytest.approx(1 / 4)   # |−1| / (3 + 1)
    assert share[1] == 1.0
    assert share[2] == 0.0                    # an all-zero map: 0, not NaN
    # (N, H, W) maps work too
    assert metrics.negative_share(relevance.sum(-1)).tolist() == share.tolist()


def test_layer_totals_sums_each_layer_per_image():
    per_layer = [("input", np.ones((2, 4, 4, 3))),
                 ("conv", np.full((2, 4, 4, 2), -0.5)),
                 ("logits", np.array([[0.0, 7.0], [-1.0, 0.0]]))]
    totals = metrics.layer_totals(per_layer)
    assert totals.shape == (3, 2)
    assert totals.tolist() == [[48.0, 48.0], [-16.0, -16.0], [7.0, -1.0]]
    with pytest.raises(ValueError, match="empty"):
        metrics.layer_totals([])
    with pytest.raises(ValueError, match="same leading image axis"):
        metrics.layer_totals([("a", np.ones((2, 3))), ("b", np.ones((3, 3)))])


def test_object_evidence_is_the_signed_sum_inside_the_mask():
    relevance = np.zeros((2, 3, 3, 3))
    relevance[0, 0, 0] = [1.0, 2.0, -0.5]     # inside: +2.5
    relevance[0, 2, 2] = [9.0, 0.0, 0.0]      # outside: ignored
    relevance[1, 0, 0] = [-1.0, -1.0, 0.0]    # inside: -2, the sign is kept
    masks = np.zeros((2, 3, 3), dtype=bool)
    masks[:, 0, :2] = True
    assert metrics.object_evidence(relevance, masks).tolist() == [2.5, -2.0]
    with pytest.raises(ValueError, match="one \\(H, W\\) boolean mask per image"):
        metrics.object_evidence(relevance, masks[0])


# ---------------------------------------------------------------- ordering, baselines, uncertainty

def test_flipping_order_breaks_ties_at_random_but_reproducibly():
    relevance = np.zeros((1, 4, 4))
    relevance[0, 3, 3] = 1.0                                   # one clear winner, 15 ties
    first = metrics.flipping_order(relevance, seed=0)
    assert first[0, 0] == 15                                   # the winner goes first
    assert first[0, 1:].tolist() != list(range(15))            # ties not in reading order
    assert (metrics.flipping_order(relevance, seed=0) == first).all()
    assert (metrics.flipping_order(relevance, seed=1) != first).any()
    assert metrics.flipping_order(relevance, seed=None)[0, 1:].tolist() == list(range(15))


def test_flipping_order_signed_vs_absolute():
    relevance = np.array([[[0.5, -2.0, 1.0]]])                 # (1, 1, 3)
    assert metrics.flipping_order(relevance, by="signed").tolist() == [[2, 0, 1]]
    assert metrics.flipping_order(relevance, by="absolute").tolist() == [[1, 2, 0]]
    with pytest.raises(ValueError, match="signed' or 'absolute"):
        metrics.flipping_order(relevance, by="abs")


def test_blur_replacement_is_the_local_mean():
    images = np.random.default_rng(0).random((2, 12, 12, 3)).astype(np.float32)
    blurred = metrics.replacement_values(images, "blur")
    assert blurred.shape == images.shape
    # away from the border: the mean of the 9×9 window
    assert np.allclose(blurred[1, 6, 5], images[1, 2:11, 1:10].mean(axis=(0, 1)), atol=1e-6)
    # at the corner: the mean over the part of the window inside the image
    assert np.allclose(blurred[0, 0, 0], images[0, :5, :5].mean(axis=(0, 1)), atol=1e-6)
    constant = np.full((1, 10, 10, 3), 0.3, np.float32)
    assert np.allclose(metrics.replacement_values(constant, "blur"), 0.3)
    with pytest.raises(ValueError, match="blur"):
        metrics.replacement_values(images, "median")


def test_pearson_and_top_fraction_overlap():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 10, 10))
    assert np.allclose(metrics.pearson_correlation(a, 2 * a + 1), 1.0)
    assert np.allclose(metrics.pearson_correlation(a, -a), -1.0)
    assert np.allclose(metrics.top_fraction_overlap(a, a, 0.1), 1.0)
    b = a.copy()
    b[0] = -np.abs(a[0])                                       # |R| unchanged: same top pixels
    assert metrics.top_fraction_overlap(a, b, 0.2)[0] == 1.0
    unrelated = metrics.top_fraction_overlap(rng.normal(size=(200, 10, 10)),
                                             rng.normal(size=(200, 10, 10)), 0.1)
    assert abs(unrelated.mean() - 0.1) < 0.02                  # chance level = the fraction
    with pytest.raises(ValueError, match="fraction"):
        metrics.top_fraction_overlap(a, a, 0.0)


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_images():
    rng = np.random.default_rng(2)
    small = rng.normal(1.0, 1.0, 20)
    large = rng.normal(1.0, 1.0, 2000)
    mean, low, high = metrics.bootstrap_interval(small)
    assert low < mean < high and mean == pytest.approx(small.mean())
    _, low_l, high_l = metrics.bootstrap_interval(large)
    assert high_l - low_l < (high - low) / 5                    # ~ 1/sqrt(n)
    assert low_l < large.mean() < high_l
    # the interval of the mean is about ±1.96 σ/√n
    assert (high_l - low_l) / 2 == pytest.approx(1.96 * large.std() / np.sqrt(2000), rel=0.15)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.bootstrap_interval([1.0])


def test_stable_round_refuses_values_near_a_rounding_boundary():
    assert metrics.stable_round(0.4321, 2, tolerance=1e-3) == 0.43
    assert str(metrics.stable_round(-0.0001, 2, tolerance=1e-5)) == "0.0"   # no "-0.0"
    with pytest.raises(ValueError, match="rounding boundary"):
        metrics.stable_round(0.4349, 2, tolerance=1e-3)
    with pytest.raises(ValueError, match="rounding boundary"):
        metrics.stable_round(11.51, 0, tolerance=0.02)


def test_exercise_answers_keep_their_old_names_in_metrics():
    from lrp_teach.exercises import nb04, nb05

    assert metrics.negative_share is nb05.reference_negative_share
    assert metrics.initial_relevance is nb05.reference_initial_relevance
    assert metrics.object_evidence is nb04.reference_object_evidence
    with pytest.raises(AttributeError, match="no attribute"):
        metrics.no_such_metric
