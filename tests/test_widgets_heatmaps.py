"""The heatmap explorer: each composite starts at its own defaults; static picture for readers
without a live kernel (both explorers)."""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from lrp_teach import composites, images, rules, vgg16
from lrp_teach.propagate import explain
from lrp_teach.widgets._static import RUN_THE_CELL
from lrp_teach.widgets.heatmaps import HeatmapExplorer, composite_parameters
from lrp_teach.widgets.root_points import root_point_explorer
from test_plotting_state import tiny_vgg_like

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def explorer():
    model = tiny_vgg_like()
    vgg16.randomize_weights(model, seed=3)
    photo = images.load_image(images.photo_path("chelsea.png"))
    yield HeatmapExplorer(model, {"cat": photo, "dark": photo // 4})
    plt.close("all")


def test_composite_parameters_follow_the_rules_each_composite_builds():
    low, high = images.VGG16_LOW, images.VGG16_HIGH
    montavon = composites.MontavonVGG16(low, high)  # the recipe: ε = 0.25·RMS(z), γ = 0.25
    assert montavon.epsilon.relative and montavon.epsilon.epsilon == 0.25
    params = composite_parameters("montavon_vgg16")
    assert (params.epsilon, params.gamma, params.relative_epsilon) == (
        montavon.epsilon.epsilon, montavon.gamma.gamma, True)
    assert "RMS" in params.where
    box = composites.EpsilonGammaBox(low, high)
    dense_epsilon = box.by_class["Dense"].epsilon
    params = composite_parameters("epsilon_gamma_box")
    assert (params.epsilon, params.gamma, params.relative_epsilon) == (
        dense_epsilon, box.by_class["Conv2D"].gamma, False)
    assert params.epsilon != composite_parameters("montavon_vgg16").epsilon  # the bug in issue 13
    assert composite_parameters("epsilon").epsilon == vgg16.make_composite("epsilon").epsilon
    for name in ("epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1"):
        assert composite_parameters(name).gamma is None, name
    for name in ("z_plus", "z"):
        assert composite_parameters(name)[:2] == (None, None), name
    assert composite_parameters("gamma")[:2] == (None, rules.Gamma().gamma)


def test_switching_composite_moves_the_sliders_to_its_defaults_and_draws_once(explorer,
                                                                              monkeypatch):
    box = explorer.widget("cat", composite="epsilon_gamma_box")
    eps, gamma, composite = (box.controls[name] for name in ("epsilon", "gamma", "composite"))
    assert (eps.value, gamma.value) == (pytest.approx(1e-6), 0.25)
    drawn = []
    real_figure = explorer.figure
    monkeypatch.setattr(explorer, "figure",
                        lambda *a, **k: drawn.append(k) or real_figure(*a, **k))

    composite.value = "montavon_vgg16"
    assert eps.value == pytest.approx(0.25) and not eps.disabled and not gamma.disabled
    assert "RMS" in box.note.value
    assert len(drawn) == 1, "one composite change must draw once, not once per moved slider"
    assert drawn[0]["composite"] == "montavon_vgg16" and drawn[0]["epsilon"] == pytest.approx(0.25)

    composite.value = "epsilon_plus"  # no γ: disabled, and passed as None (not a stale 0.25)
    assert gamma.disabled and eps.value == pytest.approx(1e-6)
    assert drawn[-1]["gamma"] is None and len(drawn) == 2
    composite.value = "z_plus"
    assert eps.disabled and gamma.disabled and drawn[-1]["epsilon"] is None
    composite.value = "epsilon_gamma_box"
    assert not eps.disabled and not gamma.disabled and gamma.value == 0.25

    eps.value = 0.1  # a user's choice still counts, until the composite changes again
    assert drawn[-1]["epsilon"] == pytest.approx(0.1) and len(drawn) == 5


def test_montavon_default_is_the_recipe_not_epsilon_gamma_box_epsilon(explorer):
    """What the widget shows for montavon_vgg16 is the composite as make_composite builds it."""
    shown = explorer.explanation("cat", 285, "montavon_vgg16")
    reference = explain(explorer.model, explorer.inputs["cat"], target=285,
                        composite=vgg16.make_composite("montavon_vgg16"))[0]
    np.testing.assert_allclose(shown, reference, rtol=1e-6, atol=1e-9)
    with_small_epsilon = explorer.explanation("cat", 285, "montavon_vgg16", epsilon=1e-6)
    assert not np.allclose(with_small_epsilon, reference)  # ε matters here: not a no-op test
    # a parameter the composite does not use does not split the cache
    assert explorer.explanation("cat", 285, "z_plus", epsilon=3.0) is explorer.explanation(
        "cat", 285, "z_plus")


def png_of(bundle) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))


def test_heatmap_explorer_bundle_carries_a_static_picture_of_its_current_setting(explorer):
    box = explorer.widget("cat", composite="epsilon_gamma_box")
    bundle = box._repr_mimebundle_()
    assert WIDGET_VIEW in bundle  # still the live widget where a kernel runs it
    assert RUN_THE_CELL in bundle["text/plain"]
    picture = png_of(bundle)
    assert picture.format == "PNG" and picture.width > 500 and picture.height > 200
    box.controls["photo"].value = "dark"
    again = png_of(box._repr_mimebundle_())
    assert np.asarray(again).mean() < np.asarray(picture).mean()  # the darker photo is drawn
    plt.close("all")


def test_root_point_explorer_bundle_carries_a_static_picture():
    explorer = root_point_explorer(rule="zplus")
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and RUN_THE_CELL in bundle["text/plain"]
    first = np.asarray(png_of(bundle))
    explorer.controls["rule"].value = "zb"
    assert not np.array_equal(np.asarray(png_of(explorer._repr_mimebundle_())), first)
    plt.close("all")


def test_explorer_for_another_network_top_classes_preprocessing_bounds_and_composites():
    """06's explorer: each photo's top classes in the menu (a new menu with the photo), the
    model's own preprocessing and z^B box, and only the composites offered."""
    model = tiny_vgg_like()
    vgg16.randomize_weights(model, seed=5)
    photo = images.load_image(images.photo_path("chelsea.png"))
    scaled = lambda rgb: (np.asarray(rgb, np.float32) - 127.0) / 128.0   # noqa: E731
    bounds = (np.full(3, -127 / 128, np.float32), np.full(3, 1.0, np.float32))
    explorer = HeatmapExplorer(model, {"cat": photo, "dark": photo // 4}, top=3, preprocess=scaled,
                               bounds=bounds, composite_names=("epsilon_gamma_box", "epsilon_plus"))
    np.testing.assert_array_equal(explorer.inputs["cat"][0], scaled(photo))
    logits = np.asarray(model(explorer.inputs["dark"]))[0]
    options = explorer.target_options("dark")
    assert options[0][1] == -1 and [c for _, c in options[1:]] == list(np.argsort(-logits)[:3])
    box_rule = explorer.composite("epsilon_gamma_box").first
    np.testing.assert_array_equal(box_rule.low, bounds[0])
    R = explorer.explanation("cat", None, "epsilon_gamma_box")
    expected = explain(model, explorer.inputs["cat"], target=int(np.argmax(np.asarray(model(explorer.inputs["cat"]))[0])),
                       composite=composites.EpsilonGammaBox(*bounds))[0]
    np.testing.assert_allclose(R, expected, rtol=1e-5, atol=1e-7)
    box = explorer.widget("cat")
    assert list(box.controls["composite"].options) == ["epsilon_gamma_box", "epsilon_plus"]
    box.controls["target"].value = explorer.target_options("cat")[2][1]
    box.controls["photo"].value = "dark"
    assert [value for _, value in box.controls["target"].options] == [c for _, c in options]
    assert box.controls["target"].value == -1
    with pytest.raises(ValueError, match="not both"):
        HeatmapExplorer(model, {"cat": photo}, classes={1: "x"}, top=3)
    with pytest.raises(ValueError, match="unknown composites"):
        HeatmapExplorer(model, {"cat": photo}, composite_names=("nope",))
    plt.close("all")
