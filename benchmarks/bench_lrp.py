"""Speed of the LRP engine on VGG-16 compared with a plain gradient, in ONE process.

    .venv/bin/python benchmarks/bench_lrp.py [--repeats 5] [--batches 1 8]

Builds ``keras.applications.VGG16(weights=None)`` with seeded random weights (no download) and
measures the median wall time of several runs of

* F      -- the plain forward pass, ``model(x)`` in a ``tf.function``;
* F + B  -- forward + gradient of the target logit w.r.t. the input, in a ``tf.function``
            (the softmax is removed, like the engine does);
* LRP    -- ``lrp_teach.explain`` with EpsilonPlusFlat and EpsilonGammaBox (everything included:
            input checks, the compiled pass, conversion to numpy).

It prints each time, the ratio to F + B, the practical floor for these rules -- one plain
forward for the activations, one forward with the rule's weights and one backward,
(2F + B) / (F + B) -- the peak resident memory, and whether each target is met:
EpsilonPlusFlat <= 1.5x and within 10 % of the floor, EpsilonGammaBox <= 1.6x, batch 8 no worse
per image than batch 1, peak RSS <= 2.5 GB at batch 1. Absolute times depend on the machine
and its load; the ratios measured in one run are what count.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lrp_teach  # noqa: E402
from lrp_teach import composites  # noqa: E402
from lrp_teach.setup import configure_tensorflow  # noqa: E402

MEAN_BGR = np.array([103.939, 116.779, 123.68])
LOW, HIGH = -MEAN_BGR, 255.0 - MEAN_BGR


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB


def median_times(functions: dict, repeats: int) -> dict:
    """Median wall time of each function. The functions take turns (round robin), so that a
    change in the machine's load hits all of them alike and their ratios stay meaningful."""
    for fn in functions.values():
        fn()  # warm-up: tracing and first-call allocations are not measured
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="TF intra-op threads (default 2)")
    args = parser.parse_args(argv)

    info = configure_tensorflow(seed=0, threads=args.threads)
    from lrp_teach._tf import keras, tf

    model = keras.applications.VGG16(weights=None)  # seeded by configure_tensorflow
    target_class = 281

    # the plain forward and the gradient of the logit, both compiled
    logits_model = keras.Model(model.inputs, model.layers[-2].output)
    last = model.layers[-1]

    @tf.function
    def forward(x):
        return model(x, training=False)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.matmul(logits_model(x, training=False), last.kernel) + last.bias
            chosen = tf.reduce_sum(logits[:, target_class])
        return tape.gradient(chosen, x)

    print(f"VGG-16 (random weights), TF {tf.__version__}, Keras {keras.__version__}, "
          f"{info['intra_op_threads']} threads, median of {args.repeats} runs at batch 1 "
          f"and {max(1, (args.repeats + 1) // 2)} at larger batches, interleaved")
    rng = np.random.default_rng(0)
    results = {}
    for batch in args.batches:
        x = rng.uniform(LOW, HIGH, size=(batch, 224, 224, 3)).astype(np.float32)
        xt = tf.constant(x)
        timed = median_times({
            "F": lambda: forward(xt).numpy(),
            "FB": lambda: forward_backward(xt).numpy(),
            "plus": lambda: lrp_teach.explain(model, x, target_class,
                                              composites.EpsilonPlusFlat()),
            "box": lambda: lrp_teach.explain(model, x, target_class,
                                             composites.EpsilonGammaBox(LOW, HIGH)),
        }, args.repeats if batch == 1 else max(1, (args.repeats + 1) // 2))
        t_f, t_fb, t_plus, t_box = timed["F"], timed["FB"], timed["plus"], timed["box"]
        rss = peak_rss_gb()
        t_b = t_fb - t_f
        floor = (2 * t_f + t_b) / t_fb
        results[batch] = dict(F=t_f, FB=t_fb, plus=t_plus, box=t_box, floor=floor, rss=rss)
        print(f"\nbatch {batch}:")
        print(f"  F   (forward)                 {t_f:8.3f} s   {t_f / batch:7.3f} s/image")
        print(f"  F+B (forward + input gradient) {t_fb:7.3f} s   {t_fb / batch:7.3f} s/image   1.00x")
        print(f"  LRP EpsilonPlusFlat            {t_plus:7.3f} s   {t_plus / batch:7.3f} s/image "
              f"  {t_plus / t_fb:.2f}x")
        print(f"  LRP EpsilonGammaBox            {t_box:7.3f} s   {t_box / batch:7.3f} s/image "
              f"  {t_box / t_fb:.2f}x")
        print(f"  floor (2F+B)/(F+B)                                          {floor:.2f}x")
        print(f"  peak RSS so far                {rss:7.2f} GB")

    print("\ntargets:")
    ok_all = True

    def check(label, ok):
        nonlocal ok_all
        ok_all &= bool(ok)
        print(f"  [{'met' if ok else 'MISSED'}] {label}")

    for batch, r in results.items():
        plus, box = r["plus"] / r["FB"], r["box"] / r["FB"]
        check(f"batch {batch}: EpsilonPlusFlat {plus:.2f}x <= 1.5x", plus <= 1.5)
        check(f"batch {batch}: EpsilonPlusFlat {plus:.2f}x within 10 % of the floor "
              f"{r['floor']:.2f}x", plus <= 1.1 * r["floor"])
        check(f"batch {batch}: EpsilonGammaBox {box:.2f}x <= 1.6x", box <= 1.6)
    if 1 in results:
        check(f"peak RSS at batch 1 {results[1]['rss']:.2f} GB <= 2.5 GB", results[1]["rss"] <= 2.5)
    if 1 in results and 8 in results:
        for key, label in (("plus", "EpsilonPlusFlat"), ("box", "EpsilonGammaBox")):
            one, eight = results[1][key], results[8][key] / 8
            check(f"{label}: batch 8 {eight:.3f} s/image <= batch 1 {one:.3f} s/image (+5 % noise)",
                  eight <= 1.05 * one)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
