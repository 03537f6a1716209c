"""The generated dataset and the VGG-style model of notebook 04."""

import json

import numpy as np
import pytest

from lrp_teach import shapes


def test_dataset_is_deterministic_and_seed_dependent():
    a = shapes.make_dataset(12, seed=5)
    b = shapes.make_dataset(12, seed=5)
    c = shapes.make_dataset(12, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)


def test_dataset_shapes_types_ranges_and_balance():
    data = shapes.make_dataset(40, seed=0)
    size = shapes.IMAGE_SIZE
    assert data.images.shape == (40, size, size, 3) and data.images.dtype == np.float32
    assert data.masks.shape == (40, size, size) and data.masks.dtype == bool
    assert data.labels.shape == (40,)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert np.bincount(data.labels, minlength=shapes.NUM_CLASSES).tolist() == [10, 10, 10, 10]
    # every sample has a visible deciding object, never the whole image
    area = data.masks.mean(axis=(1, 2))
    assert area.min() > 0.01 and area.max() < 0.5
    assert len(data[:5]) == 5


def test_mask_pixels_are_the_drawn_shape():
    data = shapes.make_dataset(8, seed=1)
    for image, mask in zip(data.images, data.masks):
        inside = image[mask]
        # the shape is drawn in one flat colour (clipped to [0, 1])
        assert np.allclose(inside, inside[0], atol=1e-6)


@pytest.mark.parametrize("kind", shapes.CLASS_NAMES)
def test_shape_masks_are_centred_and_bounded(kind):
    mask = shapes.shape_mask(kind, 24.0, 24.0, 10.0, angle=0.3)
    rows, cols = np.nonzero(mask)
    assert mask.any()
    assert abs(rows.mean() - 24) < 2.5 and abs(cols.mean() - 24) < 2.5
    assert rows.min() >= 24 - 13 and rows.max() <= 24 + 13


def test_shapes_differ():
    masks = [shapes.shape_mask(kind, 24.0, 24.0, 10.0) for kind in shapes.CLASS_NAMES]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert (masks[i] != masks[j]).sum() > 20


def test_bad_arguments_explain_the_fix():
    with pytest.raises(ValueError, match="unknown shape kind"):
        shapes.shape_mask("hexagon", 1, 1, 1)
    with pytest.raises(ValueError, match="count"):
        shapes.make_dataset(0, seed=0)
    with pytest.raises(ValueError, match="shortcut_fraction"):
        shapes.make_dataset(4, seed=0, shortcut_fraction=2.0)


def test_shortcut_stamps_a_class_coloured_corner_outside_the_mask():
    data = shapes.make_dataset(16, seed=2, shortcut_fraction=1.0)
    size = shapes.IMAGE_SIZE
    for image, label, mask in zip(data.images, data.labels, data.masks):
        corners = [image[1:5, 1:5], image[1:5, size - 5:size - 1],
                   image[size - 5:size - 1, 1:5], image[size - 5:size - 1, size - 5:size - 1]]
        colour = shapes._SHORTCUT_COLOURS[label]
        assert any(np.allclose(c, colour) for c in corners)
    plain = shapes.make_dataset(16, seed=2)
    assert not np.array_equal(plain.images, data.images)


def test_model_architecture_has_the_vgg_layer_types():
    model = shapes.build_model()
    kinds = [type(layer).__name__ for layer in model.layers]
    blocks = ["Conv2D", "MaxPooling2D"] * len(shapes.CONV_CHANNELS)
    assert kinds == blocks + ["Flatten", "Dense", "Dense"]
    assert model.output_shape == (None, shapes.NUM_CLASSES)
    assert model.layers[-1].activation.__name__ == "linear"  # logits, no softmax


def test_shipped_weights_load_and_are_accurate():
    path = shapes.default_weights_path()
    if not path.exists():
        pytest.skip("data/shapes_vgg.weights.h5 not trained yet")
    info = shapes.load_info()
    assert info["validation_accuracy"] >= 0.9
    model = shapes.load_model()
    test = shapes.make_dataset(64, seed=shapes.TEST_SEED)
    assert shapes.accuracy(model, test) >= 0.85
    assert path.stat().st_size < 5_000_000


def test_training_entry_point_writes_weights_and_json(tmp_path):
    out = tmp_path / "tiny.weights.h5"
    info = shapes.train(out, train_count=64, validation_count=32, epochs=1, batch_size=32,
                        verbose=0)
    assert out.exists()
    written = json.loads((tmp_path / "tiny.json").read_text())
    assert written == info
    assert 0.0 <= written["validation_accuracy"] <= 1.0
    model = shapes.load_model(out)
    assert model.count_params() == shapes.build_model().count_params()


def test_training_is_reproducible_from_the_seed(tmp_path):
    weights = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.weights.h5"
        shapes.train(out, train_count=64, validation_count=16, epochs=1, batch_size=16,
                     verbose=0)
        weights.append(shapes.load_model(out).get_weights())
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)
