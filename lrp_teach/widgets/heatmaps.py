"""Explore LRP heatmaps of VGG16 or EfficientNet-Lite0: image, target class, composite, ε and γ.

:class:`HeatmapExplorer` holds the model, the photos and a cache of explanations (a VGG16 LRP pass
takes about a second; moving a slider back should not recompute). :meth:`HeatmapExplorer.figure`
draws one static figure (photo, signed heatmap, the lecture's rainbow map) -- the notebook shows
it for readers without a running kernel -- and :meth:`HeatmapExplorer.widget` wraps the *same*
method in ipywidgets controls. Without ipywidgets the widget falls back to the static figure.

Every composite starts at its *own* defaults (:func:`composite_parameters`): choosing
``montavon_vgg16`` in the widget moves ε to its recipe, 0.25 × RMS(z), not the 1e-6 of
``epsilon_gamma_box``; ε or γ sliders that a composite does not use are disabled.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

PREDICTED = -1  # the "target" value meaning: the class the network scores highest


class CompositeParameters(NamedTuple):
    """The ε and γ a composite uses by default (None: none of its rules has that parameter)."""

    epsilon: float | None
    gamma: float | None
    relative_epsilon: bool  # ε is a multiple of RMS(z) (Montavon et al.'s VGG16 recipe)
    where: str  # which layers use ε / γ, for the widget's note


def _rules_of(composite) -> list:
    """The rule objects a composite (or a single rule) is made of."""
    from ..rules import Rule

    if isinstance(composite, Rule):
        return [composite]
    found = []
    for value in vars(composite).values():
        for item in (value.values() if isinstance(value, dict) else [value]):
            if isinstance(item, Rule):
                found.append(item)
    return found


def composite_parameters(name: str) -> CompositeParameters:
    """The default ε and γ of ``vgg16.make_composite(name)``, read from the rules it builds (so
    they follow the composites' definitions rather than a copy of them)."""
    from .. import rules
    from ..vgg16 import make_composite

    found = _rules_of(make_composite(name))
    epsilons = [rule for rule in found
                if isinstance(rule, rules.Epsilon) and not isinstance(rule, rules.Z)]
    gammas = [rule for rule in found if isinstance(rule, rules.Gamma)]
    if len({(rule.epsilon, rule.relative) for rule in epsilons}) > 1 or len(
            {rule.gamma for rule in gammas}) > 1:
        raise ValueError(f"composite {name!r} uses several different ε or γ; the explorer has "
                         "one slider each")
    epsilon = epsilons[0].epsilon if epsilons else None
    relative = bool(epsilons and epsilons[0].relative)
    gamma = gammas[0].gamma if gammas else None
    parts = []
    if epsilon is not None:
        parts.append(f"ε = {epsilon:g} × RMS(z)" if relative else f"ε = {epsilon:g}")
    if gamma is not None:
        parts.append(f"γ = {gamma:g}")
    where = (f"{name} defaults: " + ", ".join(parts)) if parts else f"{name}: no ε, no γ"
    return CompositeParameters(epsilon, gamma, relative, where)


class HeatmapExplorer:
    """LRP heatmaps of one model on a few photos, cached.

    model : a Keras model producing logits (e.g. ``vgg16.course_vgg16().model`` or
        ``efficientnet.build_efficientnet_lite0()[0]``).
    photos : ``{name: uint8 RGB (224, 224, 3)}`` (``images.load_image``).
    classes : ``{class index: label}`` offered as targets besides "predicted class" (the same for
        every photo).
    top : instead of ``classes``, offer each photo's ``top`` highest-scoring classes (the class
        menu changes with the photo).
    weights_label : shown in every figure title (e.g. "RANDOM weights, NOT trained").
    preprocess : RGB -> the model's input (default: VGG16's, ``images.preprocess``).
    bounds : ``(low, high)`` of the input for the z^B rule (default: VGG16's pixel box).
    composite_names : the composites offered (default: every name of ``composites.NAMES``).
    """

    def __init__(self, model, photos: Mapping[str, np.ndarray], classes: Mapping[int, str] | None = None,
                 weights_label: str = "", *, top: int | None = None, preprocess=None, bounds=None,
                 composite_names=None):
        from .. import composites, images

        if not photos:
            raise ValueError("HeatmapExplorer needs at least one photo: {name: images.load_image(path)}.")
        if top is not None and classes is not None:
            raise ValueError("HeatmapExplorer: give classes={...} (the same for every photo) or "
                             "top=k (each photo's k best classes), not both.")
        self.model = model
        self.photos = {name: np.asarray(rgb) for name, rgb in photos.items()}
        self.preprocess = preprocess or images.preprocess
        self.inputs = {name: np.asarray(self.preprocess(rgb))[None] for name, rgb in self.photos.items()}
        self.top = None if top is None else int(top)
        self.classes = {} if top is not None else dict(classes or {281: "tabby", 285: "Egyptian cat"})
        self.weights_label = weights_label
        self.bounds = (images.VGG16_LOW, images.VGG16_HIGH) if bounds is None else tuple(bounds)
        self.composite_names = tuple(composite_names or composites.NAMES)
        unknown = [name for name in self.composite_names if name not in composites.NAMES]
        if unknown:
            raise ValueError(f"unknown composites {unknown}; choose from {composites.NAMES}")
        self._logits: dict[str, np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}

    def target_options(self, photo: str) -> list[tuple[str, int]]:
        """The class menu for ``photo``: "predicted class", then the fixed classes or the photo's
        top classes (with their softmax probability)."""
        from .. import images

        options = [("predicted class", PREDICTED)]
        if self.top is None:
            return options + [(f"{index} {label or images.class_name(index)}", index)
                              for index, label in self.classes.items()]
        logits = self.logits(photo).astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return options + [(f"{int(c)} {images.class_name(int(c))} (p = {p[c]:.2f})", int(c))
                          for c in np.argsort(-logits)[:self.top]]

    def composite(self, name: str, epsilon: float | None = None, gamma: float | None = None):
        """The composite called ``name`` with this explorer's input bounds."""
        from .. import composites

        low, high = self.bounds
        return composites.by_name(name, low=low, high=high, epsilon=epsilon, gamma=gamma)

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
    def parameters(composite: str, epsilon: float | None = None,
                   gamma: float | None = None) -> tuple[float | None, float | None]:
        """(ε, γ) that ``composite`` runs with: None -> its default; a parameter the composite
        does not use is None whatever was passed (it changes nothing)."""
        defaults = composite_parameters(composite)
        epsilon = None if defaults.epsilon is None else (
            defaults.epsilon if epsilon is None else float(epsilon))
        gamma = None if defaults.gamma is None else (
            defaults.gamma if gamma is None else float(gamma))
        return epsilon, gamma

    def _key(self, photo, target, composite, epsilon, gamma):
        epsilon, gamma = self.parameters(composite, epsilon, gamma)
        return (photo, int(target), composite,
                None if epsilon is None else round(epsilon, 12),
                None if gamma is None else round(gamma, 12))

    def remember(self, photo, target, composite, epsilon, gamma, relevance) -> None:
        """Store an explanation computed elsewhere (the notebook batches its LRP passes)."""
        self._cache[self._key(photo, target, composite, epsilon, gamma)] = np.asarray(relevance)

    def explanation(self, photo: str, target: int | None = PREDICTED,
                    composite: str = "epsilon_gamma_box", epsilon: float | None = None,
                    gamma: float | None = None) -> np.ndarray:
        """Relevance (224, 224, 3) of ``photo`` for ``target`` (cached). ``epsilon`` / ``gamma``:
        None means the composite's own default (:func:`composite_parameters`)."""
        from ..propagate import explain

        if photo not in self.photos:
            raise ValueError(f"unknown photo {photo!r}; choose one of {sorted(self.photos)}")
        target = self.resolve_target(photo, target)
        key = self._key(photo, target, composite, epsilon, gamma)
        if key not in self._cache:
            epsilon, gamma = self.parameters(composite, epsilon, gamma)
            rule = self.composite(composite, epsilon=epsilon, gamma=gamma)
            self._cache[key] = explain(self.model, self.inputs[photo], target=target,
                                       composite=rule)[0]
        return self._cache[key]

    # -- drawing ------------------------------------------------------------------------------
    def figure(self, photo: str | None = None, target: int | None = PREDICTED,
               composite: str = "epsilon_gamma_box", epsilon: float | None = None,
               gamma: float | None = None, figure=None):
        """Photo | signed heatmap | the lecture's rainbow map, for one setting. Returns the Figure.

        ``epsilon`` / ``gamma``: None means the composite's default. ``figure``: a Figure to draw
        into (cleared first); a new pyplot figure if None."""
        import matplotlib.pyplot as plt

        from .. import images, viz

        photo = photo or next(iter(self.photos))
        relevance = self.explanation(photo, target, composite, epsilon, gamma)
        target = self.resolve_target(photo, target)
        epsilon, gamma = self.parameters(composite, epsilon, gamma)
        settings = [composite]
        if epsilon is not None:
            relative = composite_parameters(composite).relative_epsilon
            settings.append(f"ε={epsilon:.3g}{'×RMS' if relative else ''}")
        if gamma is not None:
            settings.append(f"γ={gamma:.3g}")
        logit = float(self.logits(photo)[target])
        if figure is None:
            figure = plt.figure(figsize=(9.0, 3.6))
        figure.clf()
        axes = figure.subplots(1, 3)
        viz.plot_heatmap(axes[0], self.photos[photo], kind="image", title=photo)
        viz.plot_heatmap(axes[1], relevance, kind="signed",
                         title=f"{', '.join(settings)}\nsigned: red +, blue −")
        viz.plot_heatmap(axes[2], relevance, kind="rainbow",
                         title="lecture's rainbow colours, same scale\n(zero = bright green)")
        label = f" [{self.weights_label}]" if self.weights_label else ""
        figure.suptitle(f"class {target} ({images.class_name(target)}): logit {logit:.3g}, "
                        f"relevance sum {relevance.sum():.3g}{label}", fontsize="medium")
        figure.tight_layout(rect=(0, 0, 1, 0.92))
        return figure

    def widget(self, photo: str | None = None, target: int | None = PREDICTED,
               composite: str = "epsilon_gamma_box", epsilon: float | None = None,
               gamma: float | None = None):
        """ipywidgets controls around :meth:`figure`. Returns a VBox (or the Figure without
        ipywidgets).

        ``epsilon`` / ``gamma`` set the start (None: the composite's defaults). Choosing another
        composite moves ε and γ to *its* defaults and disables a slider it does not use; each
        change draws once.
        """
        try:
            import ipywidgets as widgets
        except ImportError:
            print("ipywidgets is not installed: showing a static figure (pip install ipywidgets "
                  "for the controls).")
            return self.figure(photo, target, composite, epsilon, gamma)
        import matplotlib.pyplot as plt

        from ._static import ExplorerBox, figure_png

        photo = photo or next(iter(self.photos))
        defaults = composite_parameters(composite)
        controls = {
            "photo": widgets.Dropdown(options=list(self.photos), value=photo, description="image"),
            "target": widgets.Dropdown(options=self.target_options(photo), value=target,
                                       description="class"),
            "composite": widgets.Dropdown(options=list(self.composite_names), value=composite,
                                          description="composite"),
            "epsilon": widgets.FloatLogSlider(
                value=defaults.epsilon if epsilon is None else epsilon, base=10, min=-6, max=1,
                step=0.25, description="ε", continuous_update=False, readout_format=".2g",
                disabled=defaults.epsilon is None),
            "gamma": widgets.FloatSlider(
                value=defaults.gamma if gamma is None else gamma, min=0.0, max=2.0, step=0.05,
                description="γ", continuous_update=False, readout_format=".2f",
                disabled=defaults.gamma is None),
        }
        note = widgets.HTML(value=f"<small>{defaults.where}</small>")
        output = widgets.Output()
        switching = []  # non-empty while a composite change moves ε/γ: draw once, not three times

        def values():
            settings = {name: control.value for name, control in controls.items()}
            for name in ("epsilon", "gamma"):
                if controls[name].disabled:
                    settings[name] = None  # the composite does not use it
            return settings

        def draw():
            with output:
                output.clear_output(wait=True)
                fig = self.figure(**values())
                plt.show()
                plt.close(fig)

        def on_change(change):
            if switching:
                return
            if change["owner"] is controls["photo"] and self.top is not None:
                # each photo has its own top classes: a new menu, back at "predicted class"
                switching.append(True)
                try:
                    controls["target"].options = self.target_options(change["new"])
                    controls["target"].value = PREDICTED
                finally:
                    switching.clear()
            if change["owner"] is controls["composite"]:
                new = composite_parameters(change["new"])
                switching.append(True)
                try:
                    for name in ("epsilon", "gamma"):
                        default = getattr(new, name)
                        controls[name].disabled = default is None
                        if default is not None:
                            controls[name].value = default
                    note.value = f"<small>{new.where}</small>"
                finally:
                    switching.clear()
            draw()

        for control in controls.values():
            control.observe(on_change, names="value")
        draw()

        def static_figure():  # the picture readers without a live kernel see (see _static.py)
            return figure_png(lambda figure: self.figure(**values(), figure=figure),
                              figsize=(9.0, 3.6))

        box = ExplorerBox([
            widgets.HBox([controls["photo"], controls["target"], controls["composite"]]),
            widgets.HBox([controls["epsilon"], controls["gamma"], note]),
            output,
        ], static_figure, "Heatmap explorer")
        box.controls = controls  # for tests and curious students
        box.note = note
        return box
