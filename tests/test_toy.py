"""lrp_teach.toy: deterministic data, a tiny ReLU MLP, deterministic training, grid helpers."""

import numpy as np
import pytest

from lrp_teach import toy


# ------------------------------------------------------------------------------- data (no TF)
@pytest.mark.parametrize("make", [toy.make_moons, toy.make_rings])
def test_data_is_deterministic_standardised_and_signed(make):
    x, y = make(n_samples=101, seed=3)
    x_again, y_again = make(n_samples=101, seed=3)
    assert x.shape == (101, 2) and x.dtype == np.float32
    assert y.shape == (101,) and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-5)
    assert (x < 0).any() and (x > 0).any()  # real-valued inputs: the point of notebook 03
    x_other, _ = make(n_samples=101, seed=4)
    assert not np.allclose(x, x_other)


def test_moons_geometry_without_standardising():
    x, y = toy.make_moons(n_samples=200, noise=0.0, standardise=False)
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)           # unit half circle
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="at least 2"):
        toy.make_moons(n_samples=1)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        toy.make_rings(factor=1.5)
    with pytest.raises(ValueError, match="resolution"):
        toy.grid(resolution=1)


# ------------------------------------------------------------------------------- grid (no TF)
def test_grid_and_on_grid_round_trip():
    x1, x2, points = toy.grid((-1, 1), (-2, 2), resolution=5)
    assert x1.shape == x2.shape == (5, 5) and points.shape == (25, 2)
    assert points.dtype == np.float32
    np.testing.assert_allclose(points[:, 0].reshape(x1.shape), x1)
    np.testing.assert_allclose(points[:, 1].reshape(x1.shape), x2)
    values = toy.on_grid(lambda p: np.stack([p[:, 0] + p[:, 1], p[:, 0]], axis=1), points,
                         x1.shape, batch_size=7)  # several uneven batches
    assert values.shape == (5, 5, 2)
    np.testing.assert_allclose(values[..., 0], x1 + x2, rtol=1e-6)


def test_plot_plane_is_centred_at_zero():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x1, x2, points = toy.grid((-1, 1), (-1, 1), resolution=11)
    fig, ax = plt.subplots()
    image = toy.plot_plane(ax, x1, x2, x1 * 3.0 + 1.0, title="t", contour_zero=True,
                           data=(points[:4], np.array([0, 1, 0, 1])))
    low, high = image.get_clim()
    assert low == -high == -4.0
    assert ax.get_xlabel() == "x₁" and ax.get_title() == "t"
    image = toy.plot_plane(ax, x1, x2, np.zeros_like(x1), limit=2.0, colorbar=False)
    assert image.get_clim() == (-2.0, 2.0)
    plt.close(fig)



def test_plot_relevance_rows_one_scale_per_row():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x1, x2, _ = toy.grid((-1, 1), (-1, 1), resolution=11)
    small = np.stack([x1, x2], axis=-1)                        # |R| ≤ 1
    large = 10.0 * small                                       # |R| ≤ 10
    fig = toy.plot_relevance_rows(x1, x2, {"a": small, "b": large}, "t", boundary=x1 - x2,
                                  explained=x1 + 0.1, percentile=100)
    planes = [ax for ax in fig.axes if ax.get_images()]
    assert len(planes) == 4
    # row by row: both panels share the row's scale, the largest |R| of that row
    assert [ax.get_images()[0].get_clim()[1] for ax in planes] == [1.0, 1.0, 10.0, 10.0]
    assert planes[2].get_title() == "b: R₁ (relevance of x₁)"
    assert "percentile" in fig._suptitle.get_text()
    plt.close(fig)


# ------------------------------------------------------------------------------- network (TF)
@pytest.fixture(scope="module")
def trained():
    import lrp_teach

    lrp_teach.setup_notebook()
    x, y = toy.make_moons(n_samples=200, seed=0)
    model = toy.build_mlp(hidden=(8, 8), seed=0)
    history = toy.train(model, x, y, steps=150, learning_rate=0.03)
    return x, y, model, history


def test_build_mlp_layout():
    model = toy.build_mlp(hidden=(4, 3), n_classes=2, seed=1)
    assert [layer.name for layer in model.layers] == ["dense_1", "dense_2", "logits"]
    assert model.layers[-1].get_config()["activation"] == "linear"  # logits, no softmax
    assert model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="at least one"):
        toy.build_mlp(hidden=())


def test_training_learns_and_is_deterministic(trained):
    x, y, model, history = trained
    assert history["accuracy"] >= 0.95 and history["loss"] < 0.2
    again = toy.build_mlp(hidden=(8, 8), seed=0)
    history_again = toy.train(again, x, y, steps=150, learning_rate=0.03)
    assert history_again == history
    for (w, b), (w2, b2) in zip(toy.dense_parameters(model), toy.dense_parameters(again)):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)


def test_numpy_forward_matches_keras(trained):
    x, _, model, _ = trained
    params = toy.dense_parameters(model)
    assert [w.shape for w, _ in params] == [(2, 8), (8, 8), (8, 2)]
    activations = toy.forward(params, x)
    assert len(activations) == 4
    assert all((a >= 0).all() for a in activations[1:-1])  # ReLU outputs
    np.testing.assert_allclose(activations[-1], model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_input_gradient_matches_finite_differences_and_patterns_name_the_piece():
    rng = np.random.default_rng(7)
    params = [(rng.normal(size=(2, 5)), rng.normal(size=5)), (rng.normal(size=(5, 4)),
              rng.normal(size=4)), (rng.normal(size=(4, 2)), rng.normal(size=2))]
    points = rng.normal(size=(20, 2))
    step = 1e-6
    for target in (0, 1):
        numeric = np.stack([(toy.forward(params, points + step * e)[-1][:, target]
                             - toy.forward(params, points - step * e)[-1][:, target]) / (2 * step)
                            for e in np.eye(2)], axis=1)
        np.testing.assert_allclose(toy.input_gradient(params, points, target), numeric, atol=1e-5)
    patterns = toy.activation_pattern(params, points)
    assert patterns.shape == (20, 9) and patterns.dtype == bool
    assert np.array_equal(patterns[:, :5], toy.forward(params, points)[1] > 0)


def test_simple_taylor_on_one_linear_piece_is_exact():
    # f = (x1 + 5) + 2 (x2 + 5) − 15 = x1 + 2 x2 wherever x > −5: one linear piece, gradient (1, 2).
    # Root along −∇f: x̃ = x − f/5 · (1, 2), so R = (1, 2) ⊙ (x − x̃) = f · (1, 4) / 5, ε = 0.
    params = [(np.eye(2), np.array([5.0, 5.0])), (np.array([[1.0], [2.0]]), np.array([-15.0]))]
    x = np.array([[1.0, 0.5], [0.2, 1.0]])
    R, epsilon, pieces = toy.simple_taylor(params, x, target=0)
    f = x[:, 0] + 2 * x[:, 1]
    np.testing.assert_allclose(R, f[:, None] * np.array([1.0, 4.0]) / 5, atol=1e-9)
    np.testing.assert_allclose(epsilon, 0.0, atol=1e-9)
    assert np.array_equal(pieces, [1, 1])


def test_simple_taylor_across_a_kink_leaves_the_remainder_of_the_formula():
    # f = relu(x1) + relu(x1 − 1) − 0.5. At x = (2, 0): f = 2.5, ∇f = (2, 0); walking down x1 the
    # slope drops to 1 at x1 = 1 (f = 0.5) and f = 0 at x1 = 0.5. Gradient there from x's side:
    # (1, 0), so R = (1.5, 0), ε = 2.5 − 1.5 = 1, and the segment crosses 2 linear pieces.
    hidden = (np.array([[1.0, 1.0], [0.0, 0.0]]), np.array([0.0, -1.0]))
    params = [hidden, (np.array([[1.0], [1.0]]), np.array([-0.5]))]
    R, epsilon, pieces = toy.simple_taylor(params, np.array([[2.0, 0.0]]), target=0)
    np.testing.assert_allclose(R, [[1.5, 0.0]], atol=1e-9)
    np.testing.assert_allclose(epsilon, [1.0], atol=1e-9)
    assert pieces.tolist() == [2]
    # with +0.5 instead of −0.5, f ≥ 0.5 everywhere on the ray: no root, NaN, 0 pieces
    params[1] = (np.array([[1.0], [1.0]]), np.array([0.5]))
    R, epsilon, pieces = toy.simple_taylor(params, np.array([[2.0, 0.0]]), target=0)
    assert np.isnan(R).all() and np.isnan(epsilon).all() and pieces.tolist() == [0]


def test_float32_tolerance_follows_the_condition_number_and_bounds_float32():
    # z = x1 − x2 at x = (1, 1 − δ): Σ|terms| = 2 − δ, κ = (2 − δ)/δ, n = 2 inputs + 1 bias
    params = [(np.array([[1.0], [-1.0]]), np.array([0.0]))]
    delta = 1e-3
    tolerance = toy.float32_tolerance(params, np.array([[1.0, 1.0 - delta]]))
    np.testing.assert_allclose(tolerance, 1e-4 + 3 * 2.0 ** -24 * (2 - delta) / delta)
    # a random network: float32 logits stay within the tolerance of float64 ones
    rng = np.random.default_rng(3)
    params = [(rng.normal(size=(2, 16)), rng.normal(size=16)),
              (rng.normal(size=(16, 16)), rng.normal(size=16)), (rng.normal(size=(16, 2)), rng.normal(size=2))]
    x = rng.normal(size=(500, 2))
    exact = toy.forward(params, x)[-1]
    single = toy.forward([(W.astype(np.float32), b.astype(np.float32)) for W, b in params],
                         x.astype(np.float32))[-1].astype(np.float64)
    allowed = toy.float32_tolerance(params, x)[:, None] * np.abs(exact) + 1e-6
    assert np.all(np.abs(single - exact) <= allowed)
