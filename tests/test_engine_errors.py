"""Every error of the engine, checked by its message (what is wrong AND what to do)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites, rules
from lrp_teach._tf import keras

L = keras.layers


def tiny(*hidden, final=None, input_shape=(6, 6, 1)):
    return keras.Sequential([keras.Input(input_shape), *hidden, L.Flatten(),
                             L.Dense(3, activation=final, name="out")])


X = np.zeros((1, 6, 6, 1), dtype=np.float32)


def test_the_no_computation_guard_can_fail(no_computation):
    with pytest.raises(AssertionError, match="started computing before checking"):
        lt.explain(tiny(L.Conv2D(2, 3, activation="relu")), X)


@pytest.mark.parametrize("layer,cls", [
    (L.LayerNormalization(name="bn"), "LayerNormalization"),
    (L.Conv2DTranspose(2, 3, name="bn"), "Conv2DTranspose"),
])
def test_unsupported_layer_is_named_before_any_computation(layer, cls, no_computation):
    model = tiny(L.Conv2D(2, 3, activation="relu", name="conv"), layer)
    with pytest.raises(ValueError) as error:
        lt.explain(model, X)
    message = str(error.value)
    assert f"Unsupported layer 'bn' ({cls})" in message
    assert "supports: InputLayer, Conv2D, DepthwiseConv2D, Dense, MaxPooling2D" in message


@pytest.mark.parametrize("before,after", [
    ([L.Conv2D(2, 3, activation="relu", name="conv")], "follows layer 'conv' (Conv2D) whose "
                                                       "activation is 'relu'"),
    ([L.Conv2D(2, 3, name="conv"), L.ReLU(name="relu")], "follows layer 'relu' (ReLU)"),
    ([L.Conv2D(2, 3, name="conv"), L.MaxPooling2D(name="pool")], "follows layer 'pool'"),
    ([], "is not preceded by a Conv2D, DepthwiseConv2D or Dense layer"),
])
def test_batch_normalization_elsewhere_is_named_with_what_is_supported(before, after,
                                                                        no_computation):
    model = tiny(*before, L.BatchNormalization(name="bn"))
    with pytest.raises(ValueError) as error:
        lt.explain(model, X)
    message = str(error.value)
    assert message.startswith("Unsupported layer 'bn' (BatchNormalization) here: ")
    assert after in message
    assert ("supported directly after a Conv2D, DepthwiseConv2D or Dense layer with "
            "activation=None whose output nothing else reads") in message
    assert "supports: InputLayer, Conv2D, DepthwiseConv2D, Dense, MaxPooling2D" in message


def test_multiply_is_rejected_with_the_reason(no_computation):
    inputs = keras.Input((6, 6, 1))
    h = L.Conv2D(1, 3, padding="same", activation="relu", name="conv")(inputs)
    h = L.Multiply(name="gate")([h, inputs])
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(h)))
    with pytest.raises(ValueError, match=r"Unsupported layer 'gate' \(Multiply\) \(a product of "
                                         r"two signals, e\.g\. squeeze-and-excitation, is not a "
                                         r"linear layer"):
        lt.explain(model, X)


def test_lstm_is_rejected(no_computation):
    model = keras.Sequential([keras.Input((5, 2)), L.LSTM(4, name="lstm"), L.Dense(3)])
    with pytest.raises(ValueError, match=r"Unsupported layer 'lstm' \(LSTM\) \(recurrent layers "
                                         r"are not supported\)\. The LRP engine supports: "):
        lt.explain(model, np.zeros((1, 5, 2), dtype=np.float32))


def test_branches_of_supported_layers_are_rejected(no_computation):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, [L.Dense(2, name="a")(inputs), L.Dense(2, name="b")(inputs)])
    with pytest.raises(ValueError, match=r"has 2 outputs \(layers \['a', 'b'\]\); the LRP engine "
                                         r"explains one output logit from one input"):
        lt.explain(model, np.zeros((1, 4), dtype=np.float32))
    first, second = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([first, second], L.Dense(2)(L.Add()([first, second])))
    with pytest.raises(ValueError, match=r"has 2 inputs"):
        lt.explain(model, [np.zeros((1, 4))] * 2)


def test_a_layer_used_twice_is_not_a_chain(no_computation):
    inputs = keras.Input((4,))
    dense = L.Dense(4, activation="relu", name="twice")
    model = keras.Model(inputs, L.Dense(2, name="out")(dense(dense(inputs))))
    with pytest.raises(ValueError, match=r"Layer 'twice' \(Dense\) is called 2 times in model "
                                         r"'\w+' \(a shared layer\); the LRP engine explains "
                                         r"graphs in which every layer is called once"):
        lt.explain(model, np.zeros((1, 4), dtype=np.float32))


def test_a_subclassed_model_is_refused_not_trusted(no_computation):
    class Doubled(keras.Model):
        def __init__(self):
            super().__init__(name="doubled")
            self.dense = L.Dense(2, name="d")

        def call(self, x):
            return self.dense(x) + self.dense(-x)  # a branch hidden in Python code

    model = Doubled()
    model(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Cannot prove that model 'doubled' \(Doubled\) is a "
                                         r"graph of Keras layers the engine can read: it is a "
                                         r"subclassed keras.Model.*Build it as keras.Sequential"):
        lt.explain(model, np.zeros((1, 4), dtype=np.float32))

    class Custom(keras.Sequential):
        def call(self, x, training=None, mask=None):
            return super().call(x) * 2.0

    custom = Custom([keras.Input((4,)), L.Dense(2)], name="custom")
    with pytest.raises(ValueError, match=r"'custom' \(Custom\) is a graph of Keras layers the "
                                         r"engine can read: it is a Sequential subclass with its "
                                         r"own call\(\)"):
        lt.explain(custom, np.zeros((1, 4), dtype=np.float32))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_non_relu_hidden_activation(activation, no_computation):
    model = tiny(L.Conv2D(2, 3, activation=activation, name="conv"))
    with pytest.raises(ValueError, match=rf"layer 'conv' \(Conv2D\) has activation='{activation}'"
                                         r".*hidden layers must use activation='relu'"):
        lt.explain(model, X)


def test_non_relu_activation_layer_and_leaky_relu(no_computation):
    with pytest.raises(ValueError, match=r"layer 'act' \(Activation\) applies 'tanh'"):
        lt.explain(tiny(L.Conv2D(2, 3), L.Activation("tanh", name="act")), X)
    with pytest.raises(ValueError, match=r"layer 'leaky' \(ReLU\) is not a plain ReLU"):
        lt.explain(tiny(L.Conv2D(2, 3), L.ReLU(negative_slope=0.1, name="leaky")), X)


def test_last_layer_relu_is_not_a_logit(no_computation):
    with pytest.raises(ValueError, match=r"layer 'out' \(Dense\) is the model's last layer and "
                                         r"ends in a ReLU"):
        lt.explain(tiny(final="relu"), X)


def test_bad_targets():
    model = tiny(L.Conv2D(2, 3, activation="relu"))
    x = np.zeros((2, 6, 6, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"target 3 is out of range: the model has 3 classes "
                                         r"\(valid indices 0 .. 2\)"):
        lt.explain(model, x, 3)
    with pytest.raises(ValueError, match="target -1 is out of range"):
        lt.explain(model, x, [0, -1])
    with pytest.raises(ValueError, match=r"target has shape \(3,\), but there are 2 image\(s\)"):
        lt.explain(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="target must be None .*, an int class index"):
        lt.explain(model, x, "cat")
    with pytest.raises(TypeError, match="target must be None"):
        lt.explain(model, x, 1.5)
    with pytest.raises(ValueError, match="target 5 is out of range"):
        lt.gradient(model, x, 5)


def test_wrong_input_shapes():
    model = tiny(L.Conv2D(2, 3, activation="relu"))
    with pytest.raises(ValueError, match=r"images has shape \(1, 5, 6, 1\), but the model expects "
                                         r"\(N, 6, 6, 1\)\.$"):
        lt.explain(model, np.zeros((1, 5, 6, 1)))
    with pytest.raises(ValueError, match=r"For a single image add the batch axis: images\[None\]"):
        lt.explain(model, np.zeros((6, 6, 1)))
    with pytest.raises(ValueError, match=r"images is empty \(N = 0\)"):
        lt.explain(model, np.zeros((0, 6, 6, 1)))
    with pytest.raises(TypeError, match="images must be a numeric array"):
        lt.explain(model, np.array([["a"]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images(bad):
    model = tiny(L.Conv2D(2, 3, activation="relu"))
    x = np.zeros((2, 6, 6, 1), dtype=np.float32)
    x[1, 2, 3, 0] = bad
    with pytest.raises(ValueError, match=r"images contains 1 NaN or infinite value\(s\)"):
        lt.explain(model, x)
    with pytest.raises(ValueError, match="NaN or infinite"):
        lt.gradient_x_input(model, x)


def test_bad_composites():
    model = tiny(L.Conv2D(2, 3, activation="relu", name="conv"))
    with pytest.raises(TypeError, match=r"composite=ZPlus is a class; pass an instance, e.g. "
                                        r"ZPlus\(\)"):
        lt.explain(model, X, composite=rules.ZPlus)
    with pytest.raises(TypeError, match="composite must be a Composite from lrp_teach.composites"):
        lt.explain(model, X, composite="epsilon")
    with pytest.raises(ValueError, match=r"names layers \['nope'\] that are not in the model"):
        lt.explain(model, X, composite=composites.Composite(by_name={"nope": rules.Z()},
                                                            default=rules.Z()))
    with pytest.raises(ValueError, match=r"no rule for layer 'out' \(Dense\).*default="):
        lt.explain(model, X, composite=composites.Composite(by_class={"Conv2D": rules.Z()}))
    with pytest.raises(TypeError, match=r"Composite\(default=...\) must be a rule"):
        composites.Composite(default=0.25)


def test_zbox_bounds_must_fit_the_images():
    model = tiny(L.Conv2D(2, 3, activation="relu"))
    with pytest.raises(ValueError, match=r"ZBox low has shape \(3,\), which does not broadcast to "
                                         r"one image of shape \(6, 6, 1\)"):
        lt.explain(model, X, composite=composites.EpsilonGammaBox(np.zeros(3), np.ones(3)))


def test_zero_weights_give_zero_relevance_not_nan():
    model = tiny(L.Conv2D(2, 3, activation="relu"), L.MaxPooling2D(2),
                 input_shape=(6, 6, 1))
    for weight in model.weights:
        weight.assign(np.zeros(weight.shape))
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 6, 6, 1)).astype(np.float32)
    # (every rule's step on zero weights is checked in test_rules.py; here the compiled pass)
    for composite in (rules.Z(), rules.Gamma(), rules.AlphaBeta(), composites.EpsilonPlusFlat(),
                      composites.MontavonVGG16(-1, 1)):
        R, per_layer = lt.explain(model, x, 0, composite, return_layers=True)
        assert all(np.all(np.isfinite(r)) for _, r in per_layer), composite
    R = lt.explain(model, np.zeros_like(x), 0, rules.Z())
    assert np.all(R == 0)


def test_model_without_weights_and_non_models():
    model = keras.Sequential([keras.Input((4,)), L.Dropout(0.1)])
    with pytest.raises(ValueError, match="no Dense, Conv2D or DepthwiseConv2D layer: there is "
                                         "nothing to explain"):
        lt.explain(model, np.zeros((1, 4)))
    with pytest.raises(TypeError, match="model must be a Keras model"):
        lt.explain(lambda x: x, np.zeros((1, 4)))


def test_channels_first_is_rejected(no_computation):
    model = keras.Sequential([keras.Input((1, 6, 6)),
                              L.Conv2D(2, 3, data_format="channels_first", name="conv"),
                              L.Flatten(), L.Dense(3)])
    with pytest.raises(ValueError, match=r"layer 'conv' \(Conv2D\) uses "
                                         r"data_format='channels_first'.*channels_last"):
        lt.explain(model, np.zeros((1, 1, 6, 6)))


def test_unbuilt_model():
    model = keras.Sequential([L.Dense(3)])
    with pytest.raises(ValueError, match=r"not built yet.*keras.Input\(shape\)"):
        lt.explain(model, np.zeros((1, 4)))


# --------------------------------------------------------------------------------------------
# Graphs: what the engine refuses, and why
# --------------------------------------------------------------------------------------------

def _functional(build, shape=(6, 6, 2)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, build(inputs))


@pytest.mark.parametrize("build,why", [
    (lambda x: L.BatchNormalization(name="bn")(L.Add(name="add")(
        [L.Conv2D(2, 3, padding="same", name="conv")(x), x])), "it follows layer 'add' (Add)"),
    (lambda x: (lambda z: L.Add()([L.BatchNormalization(name="bn")(z), z]))(
        L.Conv2D(2, 3, padding="same", name="conv")(x)),
     "the output of layer 'conv' (Conv2D) is read by another layer too"),
    (lambda x: L.BatchNormalization(name="bn")(L.DepthwiseConv2D(3, activation="relu6",
                                                                  name="dw")(x)),
     "it follows layer 'dw' (DepthwiseConv2D) whose activation is 'relu6'"),
])
def test_batch_norm_that_cannot_be_folded_in_a_graph(build, why, no_computation):
    model = _functional(lambda x: L.Dense(3)(L.Flatten()(build(x))))
    with pytest.raises(ValueError) as error:
        lt.explain(model, np.zeros((1, 6, 6, 2)))
    message = str(error.value)
    assert message.startswith("Unsupported layer 'bn' (BatchNormalization) here: ")
    assert why in message


def test_smooth_activation_and_multiply_are_named_together(no_computation):
    def block(x):
        h = L.Conv2D(2, 3, padding="same", name="conv")(x)
        h = L.Activation("swish", name="swish")(h)
        gate = L.Conv2D(2, 1, activation="sigmoid", name="gate")(L.GlobalAveragePooling2D(
            keepdims=True)(h))
        return L.Dense(3)(L.Flatten()(L.Multiply(name="excite")([h, gate])))

    with pytest.raises(ValueError) as error:
        lt.explain(_functional(block), np.zeros((1, 6, 6, 2)))
    message = str(error.value)
    assert message.startswith("layer 'swish' (Activation) applies 'silu': smooth activations "
                              "(swish/silu, gelu, tanh, ...) are outside the piecewise-linear")
    assert ("The model has further layers the engine cannot explain: layer 'gate' (Conv2D) "
            "with activation 'sigmoid', layer 'excite' (Multiply).") in message


def test_a_layer_called_in_training_mode_is_refused(no_computation):
    model = _functional(lambda x: L.Dense(3)(L.Flatten()(L.Dropout(0.5, name="drop")(
        L.Conv2D(2, 3, activation="relu")(x), training=True))))
    with pytest.raises(ValueError, match=r"Layer 'drop' \(Dropout\) is called with "
                                         r"training=True.*explains the model at inference"):
        lt.explain(model, np.zeros((1, 6, 6, 2)))


def test_zbox_bounds_of_the_image_on_a_layer_that_does_not_read_the_image(no_computation):
    """Bounds (3,) broadcast to the image (4, 4, 3), but the first Dense reads its flattened
    (48,) version: named before any computation, not a BroadcastTo error inside TensorFlow."""
    model = keras.Sequential([keras.Input((4, 4, 3)), L.Flatten(), L.Dense(3, name="dense")])
    with pytest.raises(ValueError, match=r"ZBox low has shape \(3,\), but it is used on layer "
                                         r"'dense' \(Dense\), whose input of shape \(48,\) is not "
                                         r"the images"):
        lt.explain(model, np.zeros((1, 4, 4, 3)), composite=composites.EpsilonGammaBox(
            np.zeros(3), np.ones(3)))
