"""Speed of the LRP engine on VGG-16 compared with a plain gradient, oneDNN kernels off and on.

    .venv/bin/python benchmarks/bench_lrp.py [--repeats 5] [--batches 1 8] [--kernels off on]

Builds ``keras.applications.VGG16(weights=None)`` with seeded random weights (no download) and
measures the median wall time of several runs of

* F      -- the plain forward pass, ``model(x)`` in a ``tf.function``;
* F + B  -- forward + gradient of the target logit w.r.t. the input, in a ``tf.function``
            (the softmax is removed, like the engine does);
* LRP    -- ``lrp_teach.explain`` with EpsilonPlusFlat and EpsilonGammaBox (everything included:
            input checks, the compiled pass, conversion to numpy).

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it loads, so each kernel setting is
measured in its own subprocess (one after the other, same arguments) and this process prints
both side by side: the absolute times, each time's ratio to F + B, the practical floor for
these rules -- one plain forward for the activations, one forward with the rule's weights and
one backward, (2F + B) / (F + B) -- and the peak resident memory. Targets, for each setting:
both composites within 10 % of that setting's floor, batch 8 no worse per image than batch 1,
peak RSS <= 2.5 GB at batch 1. The floor is not a constant: oneDNN speeds up the backward more
than the forward, so (2F + B)/(F + B) rises (1.37x with oneDNN off, 1.64x on, issue 10).
Absolute times depend on the machine and its load; within a setting the four are interleaved,
so their ratios are what count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lrp_teach  # noqa: E402
from lrp_teach import composites  # noqa: E402
from lrp_teach.images import VGG16_HIGH as HIGH, VGG16_LOW as LOW  # noqa: E402
from lrp_teach.setup import configure_tensorflow  # noqa: E402


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


KERNELS = {"off": "0", "on": "1"}   # --kernels name -> TF_ENABLE_ONEDNN_OPTS


def measure(batches: list[int], repeats: int, threads: int | None) -> dict:
    """Time F, F+B and the two composites in THIS process (its oneDNN setting)."""
    info = configure_tensorflow(seed=0, threads=threads)
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

    rng = np.random.default_rng(0)
    results = {}
    for batch in batches:
        x = rng.uniform(LOW, HIGH, size=(batch, 224, 224, 3)).astype(np.float32)
        xt = tf.constant(x)
        timed = median_times({
            "F": lambda: forward(xt).numpy(),
            "FB": lambda: forward_backward(xt).numpy(),
            "plus": lambda: lrp_teach.explain(model, x, target_class,
                                              composites.EpsilonPlusFlat()),
            "box": lambda: lrp_teach.explain(model, x, target_class,
                                             composites.EpsilonGammaBox(LOW, HIGH)),
        }, repeats if batch == 1 else max(1, (repeats + 1) // 2))
        t_f, t_fb = timed["F"], timed["FB"]
        print(f"  oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(TF default)')}, batch {batch}: "
              f"F+B {t_fb:.3f} s", file=sys.stderr, flush=True)  # progress; stdout is the JSON
        results[str(batch)] = dict(F=t_f, FB=t_fb, plus=timed["plus"], box=timed["box"],
                                   floor=(2 * t_f + (t_fb - t_f)) / t_fb, rss=peak_rss_gb())
    return {"tf": tf.__version__, "keras": keras.__version__,
            "threads": info["intra_op_threads"],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(TF default)"),
            "batches": results}


def run_setting(kernels: str, args) -> dict:
    """One kernel setting in a fresh interpreter (TF reads TF_ENABLE_ONEDNN_OPTS at load)."""
    command = [sys.executable, __file__, "--worker", "--repeats", str(args.repeats),
               "--batches", *map(str, args.batches)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": KERNELS[kernels]}
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the benchmark with oneDNN {kernels} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="TF intra-op threads (default 2)")
    parser.add_argument("--kernels", nargs="+", choices=list(KERNELS), default=list(KERNELS),
                        help="oneDNN settings to measure, each in its own subprocess")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # one setting, in this process: print the results as one JSON line
        print(json.dumps(measure(args.batches, args.repeats, args.threads)))
        return 0

    runs = {}
    for kernels in args.kernels:
        print(f"measuring with oneDNN {kernels} (TF_ENABLE_ONEDNN_OPTS={KERNELS[kernels]}) ...",
              flush=True)
        runs[kernels] = run_setting(kernels, args)
    first = next(iter(runs.values()))
    print(f"\nVGG-16 (random weights), TF {first['tf']}, Keras {first['keras']}, "
          f"{first['threads']} threads, median of {args.repeats} runs at batch 1 and "
          f"{max(1, (args.repeats + 1) // 2)} at larger batches, interleaved within a setting; "
          f"the settings ran one after the other")
    names = list(runs)
    rows = (("F", "F   (forward)"), ("FB", "F+B (forward + input gradient)"),
            ("plus", "LRP EpsilonPlusFlat"), ("box", "LRP EpsilonGammaBox"))
    for batch in map(str, args.batches):
        print(f"\nbatch {batch}:" + "".join(f"{'oneDNN ' + k:>29s}" for k in names) +
              ("      off/on" if names == ["off", "on"] else ""))
        for key, label in rows:
            cells = []
            for k in names:
                r = runs[k]["batches"][batch]
                cells.append(f"{r[key]:8.3f} s {r[key] / int(batch):6.3f} s/im "
                             f"{r[key] / r['FB']:5.2f}x")
            speedup = ""
            if names == ["off", "on"]:
                off, on = runs["off"]["batches"][batch][key], runs["on"]["batches"][batch][key]
                speedup = f"  {off / on:9.2f}x"
            print(f"  {label:31s}" + "".join(f"{c:>29s}" for c in cells) + speedup)
        print(f"  {'floor (2F+B)/(F+B)':31s}" +
              "".join(f"{runs[k]['batches'][batch]['floor']:28.2f}x" for k in names))
        print(f"  {'peak RSS so far':31s}" +
              "".join(f"{runs[k]['batches'][batch]['rss']:27.2f}GB" for k in names))

    print("\ntargets (each oneDNN setting against its own floor):")
    ok_all = True

    def check(label, ok):
        nonlocal ok_all
        ok_all &= bool(ok)
        print(f"  [{'met' if ok else 'MISSED'}] {label}")

    for kernels, run in runs.items():
        results = run["batches"]
        for batch, r in results.items():
            for key, label in (("plus", "EpsilonPlusFlat"), ("box", "EpsilonGammaBox")):
                ratio = r[key] / r["FB"]
                check(f"oneDNN {kernels}, batch {batch}: {label} {ratio:.2f}x within 10 % of the "
                      f"floor {r['floor']:.2f}x", ratio <= 1.1 * r["floor"])
        if "1" in results:
            check(f"oneDNN {kernels}: peak RSS at batch 1 {results['1']['rss']:.2f} GB <= 2.5 GB",
                  results["1"]["rss"] <= 2.5)
        if "1" in results and "8" in results:
            for key, label in (("plus", "EpsilonPlusFlat"), ("box", "EpsilonGammaBox")):
                one, eight = results["1"][key], results["8"][key] / 8
                check(f"oneDNN {kernels}: {label}: batch 8 {eight:.3f} s/image <= batch 1 "
                      f"{one:.3f} s/image (+5 % noise)", eight <= 1.05 * one)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
