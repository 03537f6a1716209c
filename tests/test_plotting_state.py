"""No lrp_teach function changes global plotting state (backend, rcParams, interactive mode).

Why: notebook 05 runs the CLI's ``explain_photo`` in its kernel. When that called
``matplotlib.use("Agg")``, every later ``plt.show()`` silently drew nothing, and the heatmap
explorer froze after Run All (issue 11). Each test here starts from the notebook's own backend
(matplotlib-inline), with interactive mode on and a marker rcParam, calls entry points in-process
on tiny inputs, and checks that all of it is as it was. ``setup.setup_notebook`` is the one
function that sets plotting state on purpose (it is a notebook's first cell) and is not tested here.
"""

from __future__ import annotations

import inspect

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrp_teach import __main__ as cli
from lrp_teach import images, viz, vgg16
from lrp_teach._tf import keras
from lrp_teach.widgets import heatmaps, root_points

INLINE = "module://matplotlib_inline.backend_inline"  # what setup_notebook picks in a kernel
CAT = images.photo_path("chelsea.png")

#: every public plotting/CLI function, by module -- checked against the modules below, so that a
#: new public function fails test_every_public_entry_point_is_covered until it is tested here.
COVERED = {
    viz: {"to_map", "signed_scale", "signed_heatmap", "symmetric_projection", "rainbow_heatmap",
          "plot_heatmap", "show_grid"},
    root_points: {"plot_root_points", "root_point_explorer", "plot_neuron_surface"},
    heatmaps: {"HeatmapExplorer", "composite_parameters", "CompositeParameters"},  # (not drawing)
    cli: {"build_parser", "explain_photo", "main"},
}


def tiny_vgg_like():
    """224×224×3 in, 1000 logits out (the CLI and the explorer's code path, in milliseconds).
    Four convolutions, so that montavon_vgg16 gives one of them its relative ε."""
    return keras.Sequential([
        keras.Input((224, 224, 3)),
        keras.layers.Conv2D(4, 3, strides=8, padding="same", activation="relu",
                            name="block1_conv1"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv2"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block2_conv1"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block2_conv2"),
        keras.layers.MaxPooling2D(4, name="block1_pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(1000, name="predictions"),
    ])


def snapshot():
    return {
        "backend": matplotlib.get_backend(),
        "interactive": matplotlib.is_interactive(),
        "rcParams": dict(matplotlib.rcParams),
    }


@pytest.fixture
def notebook_like_state():
    """The state a notebook kernel has after setup_notebook(), plus a marker; restored after."""
    before_test = snapshot()
    plt.close("all")
    plt.switch_backend(INLINE)
    plt.ion()
    matplotlib.rcParams["figure.dpi"] = 80
    matplotlib.rcParams["axes.titlesize"] = "medium"
    matplotlib.rcParams["image.cmap"] = "magma"  # a marker a style change would overwrite
    state = snapshot()
    assert state["backend"] == INLINE and state["interactive"]
    yield state
    plt.close("all")
    plt.ioff()
    matplotlib.rcParams.update(before_test["rcParams"])
    plt.switch_backend(before_test["backend"])


def assert_unchanged(expected):
    now = snapshot()
    assert now["backend"] == expected["backend"], (
        f"the backend changed from {expected['backend']} to {now['backend']}")
    assert now["interactive"] == expected["interactive"], "interactive mode changed"
    changed = sorted(key for key in expected["rcParams"]
                     if now["rcParams"].get(key) != expected["rcParams"][key])
    assert not changed, f"rcParams changed: {changed}"


def test_every_public_entry_point_is_covered():
    for module, covered in COVERED.items():
        public = {name for name, obj in vars(module).items()
                  if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                  and obj.__module__ == module.__name__}
        assert public <= covered, f"{module.__name__}: add {sorted(public - covered)} to this test"


def test_viz_leaves_plotting_state_alone(notebook_like_state):
    rng = np.random.default_rng(0)
    relevance = rng.normal(size=(8, 8, 3))
    heat = viz.to_map(relevance)
    assert viz.signed_scale(heat) > 0
    assert viz.signed_heatmap(relevance).shape == (8, 8, 3)
    assert viz.rainbow_heatmap(relevance).shape == (8, 8, 3)
    assert viz.symmetric_projection(heat, 1.0).max() <= 1.0
    figure = plt.figure()
    viz.plot_heatmap(figure.add_subplot(), relevance, kind="signed", colorbar=True, title="R")
    grid = viz.show_grid([(relevance, "signed"), (relevance, "rainbow", "rainbow"),
                          (relevance, "lecture", "lecture")], ncols=3)
    assert len(grid.axes) == 3
    plt.close("all")
    assert_unchanged(notebook_like_state)


def test_root_point_figures_and_explorer_leave_plotting_state_alone(notebook_like_state):
    for rule in ("w2", "zplus", "zb", "lrp0"):
        root_points.plot_root_points(rule=rule)
    root_points.plot_neuron_surface(x=(1.0, 1.5), a=(0.5, 0.5))
    explorer = root_points.root_point_explorer()
    explorer.controls["w1"].value = 0.5  # redraws (ipywidgets calls the draw function)
    explorer.controls["rule"].value = "zb"
    figures = plt.get_fignums()
    assert "image/png" in explorer._repr_mimebundle_()  # the static picture for readers ...
    assert plt.get_fignums() == figures  # ... is drawn outside pyplot
    plt.close("all")
    assert_unchanged(notebook_like_state)


def test_heatmap_explorer_leaves_plotting_state_alone(notebook_like_state):
    model = tiny_vgg_like()
    vgg16.randomize_weights(model, seed=1)
    photo = images.load_image(CAT)
    explorer = heatmaps.HeatmapExplorer(model, {"cat": photo, "dark": photo // 4},
                                        weights_label="RANDOM tiny model")
    explorer.figure("cat", 285, "epsilon_gamma_box")
    box = explorer.widget("cat")
    box.controls["composite"].value = "epsilon_plus"  # each change redraws
    box.controls["photo"].value = "dark"
    box.controls["composite"].value = "montavon_vgg16"
    figures = plt.get_fignums()
    assert "image/png" in box._repr_mimebundle_()
    assert plt.get_fignums() == figures
    plt.close("all")
    assert_unchanged(notebook_like_state)


def test_cli_leaves_plotting_state_and_pyplot_alone(notebook_like_state, tmp_path, monkeypatch):
    """explain_photo and main() write files: they must not touch pyplot's state or its figures
    (a figure left in pyplot would be drawn again at the end of the notebook cell)."""
    for name in (vgg16.ENV_WEIGHTS, vgg16.ENV_ORIGIN, vgg16.ENV_MD5):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # no weights: random fallback
    figures_before = plt.get_fignums()

    assert cli.build_parser().parse_args(["explain", str(CAT)]).command == "explain"
    summary = cli.explain_photo(CAT, tmp_path / "a.png", target=285, random_weights=True,
                                architecture=tiny_vgg_like)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG" and summary["target"] == 285
    assert_unchanged(notebook_like_state)

    real_course_vgg16 = vgg16.course_vgg16

    def tiny_course(*args, architecture=None, **kwargs):  # main() has no architecture option
        return real_course_vgg16(*args, architecture=tiny_vgg_like, **kwargs)

    monkeypatch.setattr(vgg16, "course_vgg16", tiny_course)
    assert cli.main(["explain", str(CAT), "--random-weights", "--kind", "rainbow",
                     "-o", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert_unchanged(notebook_like_state)
    assert plt.get_fignums() == figures_before
