"""Explore LRP heatmaps of VGG16: image, target class, composite, ε and γ.

:class:`HeatmapExplorer` holds the model, the photos and a cache of explanations (a VGG16 LRP pass
takes about a second; moving a slider back should not recompute). :meth:`HeatmapExplorer.figure`
draws one static figure (photo, signed heatmap, the lecture's rainbow map) -- the notebook shows
it for readers without a running kernel -- and :meth:`HeatmapExplorer.widget` wraps the *same*
method in ipywidgets controls. Without ipywidgets the widget falls back to the static figure.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

PREDICTED = -1  # the "target" value meaning: the class the network scores highest


class HeatmapExplorer:
    """LRP heatmaps of one model on a few photos, cached.

    model : a VGG16-like Keras chain producing logits (e.g. ``vgg16.course_vgg16().model``).
    photos : ``{name: uint8 RGB (224, 224, 3)}`` (``images.load_image``).
    classes : ``{class index: label}`` offered as targets besides "predicted class".
    weights_label : shown in every figure title (e.g. "RANDOM weights, NOT trained").
    """

    def __init__(self, model, photos: Mapping[str, np.ndarray], classes: Mapping[int, str] | None = None,
                 weights_label: str = ""):
        from .. import images

        if not photos:
            raise ValueError("HeatmapExplorer needs at least one photo: {name: images.load_image(path)}.")
        self.model = model
        self.photos = {name: np.asarray(rgb) for name, rgb in photos.items()}
        self.inputs = {name: images.preprocess(rgb)[None] for name, rgb in self.photos.items()}
        self.classes = dict(classes or {281: "tabby", 285: "Egyptian cat"})
        self.weights_label = weights_label
        self._logits: dict[str, np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}

    # -- computation --------------------------------------------------------------------------
    def logits(self, photo: str) -> np.ndarray:
        if photo not in self._logits:
            self._logits[photo] = np.asarray(self.model(self.inputs[photo]))[0]
        return self._logits[photo]

    def resolve_target(self, photo: str, target: int | None) -> int:
        if target is None or target == PREDICTED:
            return int(np.argmax(self.logits(photo)))
        return int(target)

    @staticmethod
    def _key(photo, target, composite, epsilon, gamma):
        return (photo, int(target), composite, round(float(epsilon), 12), round(float(gamma), 12))

    def remember(self, photo, target, composite, epsilon, gamma, relevance) -> None:
        """Store an explanation computed elsewhere (the notebook batches its LRP passes)."""
        self._cache[self._key(photo, target, composite, epsilon, gamma)] = np.asarray(relevance)

    def explanation(self, photo: str, target: int | None = PREDICTED,
                    composite: str = "epsilon_gamma_box", epsilon: float = 0.25,
                    gamma: float = 0.25) -> np.ndarray:
        """Relevance (224, 224, 3) of ``photo`` for ``target`` (cached)."""
        from ..propagate import explain
        from ..vgg16 import make_composite

        if photo not in self.photos:
            raise ValueError(f"unknown photo {photo!r}; choose one of {sorted(self.photos)}")
        target = self.resolve_target(photo, target)
        key = self._key(photo, target, composite, epsilon, gamma)
        if key not in self._cache:
            rule = make_composite(composite, epsilon=epsilon, gamma=gamma)
            self._cache[key] = explain(self.model, self.inputs[photo], target=target,
                                       composite=rule)[0]
        return self._cache[key]

    # -- drawing ------------------------------------------------------------------------------
    def figure(self, photo: str | None = None, target: int | None = PREDICTED,
               composite: str = "epsilon_gamma_box", epsilon: float = 0.25, gamma: float = 0.25,
               figure=None):
        """Photo | signed heatmap | the lecture's rainbow map, for one setting. Returns the Figure."""
        import matplotlib.pyplot as plt

        from .. import images, viz

        photo = photo or next(iter(self.photos))
        relevance = self.explanation(photo, target, composite, epsilon, gamma)
        target = self.resolve_target(photo, target)
        logit = float(self.logits(photo)[target])
        if figure is None:
            figure = plt.figure(figsize=(9.0, 3.6))
        figure.clf()
        axes = figure.subplots(1, 3)
        viz.plot_heatmap(axes[0], self.photos[photo], kind="image", title=photo)
        viz.plot_heatmap(axes[1], relevance, kind="signed",
                         title=f"{composite}, ε={epsilon:g}, γ={gamma:g}\nsigned: red +, blue −")
        viz.plot_heatmap(axes[2], relevance, kind="rainbow", title="lecture's rainbow map\n(sign hidden)")
        label = f" [{self.weights_label}]" if self.weights_label else ""
        figure.suptitle(f"class {target} ({images.class_name(target)}): logit {logit:.3g}, "
                        f"relevance sum {relevance.sum():.3g}{label}", fontsize="medium")
        figure.tight_layout(rect=(0, 0, 1, 0.92))
        return figure

    def widget(self, photo: str | None = None, target: int | None = PREDICTED,
               composite: str = "epsilon_gamma_box", epsilon: float = 0.25, gamma: float = 0.25):
        """ipywidgets controls around :meth:`figure`. Returns a VBox (or the Figure without
        ipywidgets)."""
        try:
            import ipywidgets as widgets
        except ImportError:
            print("ipywidgets is not installed: showing a static figure (pip install ipywidgets "
                  "for the controls).")
            return self.figure(photo, target, composite, epsilon, gamma)
        import matplotlib.pyplot as plt

        from .. import images
        from ..vgg16 import COMPOSITE_NAMES

        target_options = [("predicted class", PREDICTED)] + [
            (f"{index} {label or images.class_name(index)}", index)
            for index, label in self.classes.items()]
        controls = {
            "photo": widgets.Dropdown(options=list(self.photos), value=photo or next(iter(self.photos)),
                                      description="image"),
            "target": widgets.Dropdown(options=target_options, value=target, description="class"),
            "composite": widgets.Dropdown(options=list(COMPOSITE_NAMES), value=composite,
                                          description="composite"),
            "epsilon": widgets.FloatLogSlider(value=epsilon, base=10, min=-6, max=1, step=0.25,
                                              description="ε", continuous_update=False,
                                              readout_format=".2g"),
            "gamma": widgets.FloatSlider(value=gamma, min=0.0, max=2.0, step=0.05,
                                         description="γ", continuous_update=False,
                                         readout_format=".2f"),
        }

        def draw(photo, target, composite, epsilon, gamma):
            fig = self.figure(photo, target, composite, epsilon, gamma)
            plt.show()
            plt.close(fig)

        output = widgets.interactive_output(draw, controls)
        box = widgets.VBox([
            widgets.HBox([controls["photo"], controls["target"], controls["composite"]]),
            widgets.HBox([controls["epsilon"], controls["gamma"]]),
            output,
        ])
        box.controls = controls  # for tests and curious students
        return box
