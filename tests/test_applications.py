"""keras.applications (weights=None: nothing is downloaded) through the engine: the six CNNs it
covers, explained with the composites, and the two outside LRP's piecewise-linear scope refused
with the layer and the reason. Small inputs (32×32, 10 classes) keep the tests short; all are
marked slow (`make test` runs them, `make unit` does not)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites, rules
from lrp_teach._tf import keras

from conftest import make_composite

pytestmark = pytest.mark.slow

#: What each preset gives a layer, written out here (zennit's presets, not the package's code):
#: composite name -> (first convolution, other convolutions, Dense).
EXPECTED = {
    "epsilon_gamma_box": ("ZBox", "Gamma", "Epsilon"),
    "epsilon_plus_flat": ("Flat", "ZPlus", "Epsilon"),
    "epsilon_plus": ("ZPlus", "ZPlus", "Epsilon"),
    "epsilon_alpha2_beta1": ("AlphaBeta", "AlphaBeta", "Epsilon"),
    "epsilon": ("Epsilon", "Epsilon", "Epsilon"),
    "z_plus": ("ZPlus", "ZPlus", "ZPlus"),
    "gamma": ("Gamma", "Gamma", "Gamma"),
    "z": ("Z", "Z", "Z"),
}
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D")


def application(name, seed=0):
    """The application with random weights, for 32×32×3 inputs and 10 classes. BatchNorm layers
    get random γ and β and the statistics of a batch of random images (one pass in training
    mode with momentum 0), so that folding is not the identity and the signal neither vanishes
    nor explodes through 50-100 layers."""
    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        n = layer.gamma.shape
        layer.gamma.assign(rng.uniform(0.5, 1.5, n))
        layer.beta.assign(rng.normal(0.05, 0.1, n))
        layer.momentum = 0.0
    if norms:
        model(rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32), training=True)
    for layer in norms:
        layer.momentum = 0.99
    return model


def _check_rule_table(model, name):
    """Every convolution and Dense layer gets the rule the preset gives its type; the first
    convolution (on the way from the input) its first-layer rule; MontavonVGG16: z^B first,
    γ in the lower half of the convolutions, ε above, LRP-0 on Dense layers."""
    table = lt.propagate.rule_table(model, make_composite(name))
    weighted = [(layer, cls, how) for layer, cls, how in table if cls in CONVOLUTIONS + ("Dense",)]
    convs = [row for row in weighted if row[1] in CONVOLUTIONS]
    assert convs[0][0] == [layer.name for layer in model.layers
                           if type(layer).__name__ in CONVOLUTIONS][0]
    for index, (layer, cls, how) in enumerate(weighted):
        rule = how.split("(")[0]
        if name == "montavon_vgg16":
            position = [row[0] for row in convs].index(layer) if cls in CONVOLUTIONS else None
            expected = ("Z" if position is None else "ZBox" if position == 0 else
                        "Gamma" if position <= len(convs) // 2 else "Epsilon")
        else:
            first, conv, dense = EXPECTED[name]
            expected = first if layer == convs[0][0] else conv if cls in CONVOLUTIONS else dense
        assert rule == expected, (name, layer, how)
    folded = [how for _, cls, how in table if cls == "BatchNormalization"]
    assert all(how.startswith("folded into '") for how in folded)
    return table


def _explain_and_check(model, x, name):
    R, per_layer = lt.explain(model, x, 3, make_composite(name), return_layers=True)
    assert R.shape == x.shape and np.all(np.isfinite(R)), name
    assert all(np.all(np.isfinite(r)) for _, r in per_layer), name
    logits = per_layer[-1][1]
    assert logits[0, 3] != 0 and np.count_nonzero(logits) == 1
    return R, logits[0, 3]


def _bias_free_conservation(model, x, rtol):
    """Without biases (BatchNorm shifts and means zeroed too), LRP-0 conserves the logit."""
    for weight in model.weights:
        if weight.path.split("/")[-1] in ("bias", "beta", "moving_mean"):
            weight.assign(np.zeros(weight.shape))
    R, per_layer = lt.explain(model, x, 3, rules.Z(), return_layers=True)
    logit = per_layer[-1][1][0, 3]
    assert abs(logit) > 1e-6
    assert R.sum() == pytest.approx(logit, rel=rtol)


X = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
ALL = tuple(EXPECTED) + ("montavon_vgg16",)


def test_every_composite_explains_mobilenet_v2():
    """Depthwise convolutions, ReLU6, ZeroPadding2D, residual Adds, folded BatchNorm."""
    model = application("MobileNetV2")
    assert any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    for composite in ALL:
        _check_rule_table(model, composite)
        _explain_and_check(model, X, composite)
    _bias_free_conservation(model, X, rtol=1e-2)


@pytest.mark.parametrize("name", ["ResNet50", "VGG16", "VGG19", "MobileNet"])
def test_vgg_and_mobilenet_with_every_composite(name):
    model = application(name)
    for composite in ALL:  # the rule of every layer, for every composite
        _check_rule_table(model, composite)
    for composite in ("epsilon_gamma_box", "epsilon_plus_flat", "epsilon_alpha2_beta1"):
        _explain_and_check(model, X, composite)
    _bias_free_conservation(model, X, rtol=1e-2)


def test_resnet101_rule_table_for_every_composite_and_one_explanation():
    model = application("ResNet101")
    for composite in ALL:
        table = _check_rule_table(model, composite)
    assert sum(cls == "Add" for _, cls, _ in table) == 33
    _explain_and_check(model, X, "epsilon_gamma_box")
    assert lt.grad_cam(model, X, 3).shape == (1, 32, 32)


def test_efficientnet_b0_is_refused_for_its_smooth_activations_and_products():
    keras.utils.set_random_seed(0)
    model = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    with pytest.raises(ValueError) as error:
        lt.explain(model, X)
    message = str(error.value)
    assert message.startswith("Unsupported layer 'rescaling' (Rescaling)")
    assert "with activation 'silu'" in message
    assert "(Multiply)" in message


def test_resnet50_v2_is_refused_for_its_pre_activation_batch_norm():
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(32, 32, 3), classes=10)
    with pytest.raises(ValueError, match=r"^Unsupported layer 'conv2_block1_preact_bn' "
                                         r"\(BatchNormalization\) here: it follows layer "
                                         r"'pool1_pool' \(MaxPooling2D\)"):
        lt.explain(model, X)
