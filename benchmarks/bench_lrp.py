"""Speed of the LRP engine on VGG-16 and EfficientNet-Lite0 compared with a plain gradient,
oneDNN kernels off and on, and zennit's on EfficientNet-Lite0.

    .venv/bin/python benchmarks/bench_lrp.py [--repeats 5] [--batches 1 8] [--kernels off on]
        [--networks vgg16 efficientnet-lite0] [--zennit-python /tmp/zvenv/bin/python]

Builds ``keras.applications.VGG16(weights=None)`` with seeded random weights (no download) and
EfficientNet-Lite0 (:func:`lrp_teach.efficientnet.build_efficientnet_lite0`: the trained
weights where the package is installed, else seeded random ones -- the time does not depend on
them) and measures, for each network, the median wall time of several runs of

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
so their ratios are what count. Each network and setting runs in its own subprocess, so the peak
RSS is that network's.

zennit (torch + zennit in a separate venv, never a course dependency) is timed on the same
EfficientNet-Lite0 in the same run by ``benchmarks/zennit_speed.py`` under that venv's
interpreter (``--zennit-python``, default ``$ZENNIT_PYTHON`` or ``/tmp/zvenv/bin/python`` where
it exists; skipped with a note otherwise): its F, F + B and composites in torch, the same
ratios. No target for zennit: it is printed for comparison.
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


NETWORKS = ("vgg16", "efficientnet-lite0")
TARGET_CLASS = 281


def build_network(name):
    """(model, low, high, note) for ``name``; low/high: the z^B box per channel."""
    from lrp_teach._tf import keras

    if name == "vgg16":
        return keras.applications.VGG16(weights=None), LOW, HIGH, "random weights"
    from lrp_teach import efficientnet

    try:
        model, _ = efficientnet.build_efficientnet_lite0()
        note = "ImageNet weights"
    except efficientnet.EfficientNetWeightsError:
        model, _ = efficientnet.build_efficientnet_lite0(weights="random")
        note = "random weights (the weights package is not installed)"
    low, high = efficientnet.input_bounds()
    return model, low, high, note


def logit_function(model):
    """The model's logits as a callable (a softmax at the end, as in VGG16, is left out like the
    engine does)."""
    from lrp_teach._tf import keras, tf

    last = model.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", "") != "softmax":
        return lambda x: model(x, training=False)
    body = keras.Model(model.inputs, model.layers[-2].output)
    return lambda x: tf.matmul(body(x, training=False), last.kernel) + last.bias


def export_network(model, low, high, path):
    """The model for zennit_speed.py: its layers in topological order with every
    BatchNormalization folded into the convolution before it (W' = W·γ/√(σ²+ε),
    b' = (b − μ)·γ/√(σ²+ε) + β), TensorFlow's 'same' padding as explicit pads."""
    import math

    config = model.get_config()
    layers = {layer.name: layer for layer in model.layers}
    entries = config["layers"]
    input_name = entries[0]["name"]

    def sources(entry):
        found = []

        def walk(value):
            if isinstance(value, dict):
                if value.get("class_name") == "__keras_tensor__":
                    found.append(value["config"]["keras_history"][0])
                    return
                for item in value.values():
                    walk(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)
        walk(entry["inbound_nodes"])
        return ["input" if s == input_name else s for s in found]

    alias, spec, arrays = {}, [], {}
    for entry in entries[1:]:
        layer, ins = layers[entry["name"]], [alias.get(s, s) for s in sources(entry)]
        cls = type(layer).__name__
        if cls in ("Conv2D", "DepthwiseConv2D"):
            kernel = np.asarray(layer.get_weights()[0], np.float64)
            channels = kernel.shape[2] * kernel.shape[3] if cls == "DepthwiseConv2D" \
                else kernel.shape[3]
            bias = (np.asarray(layer.get_weights()[1], np.float64) if layer.use_bias
                    else np.zeros(channels))
            H, W = layer.input.shape[1:3]
            (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
            pads = [0, 0, 0, 0]
            if layer.padding == "same":
                for axis, (size, k, st) in enumerate(((H, kh, sh), (W, kw, sw))):
                    total = max((math.ceil(size / st) - 1) * st + k - size, 0)
                    pads[2 * axis], pads[2 * axis + 1] = total // 2, total - total // 2
            spec.append({"name": layer.name, "kind": "dwconv" if cls == "DepthwiseConv2D"
                         else "conv", "inputs": ins, "stride": [sh, sw], "pad": pads})
            arrays[f"W__{layer.name}"], arrays[f"b__{layer.name}"] = kernel, bias
        elif cls == "BatchNormalization":
            conv = ins[0]
            gamma, beta, mean, variance = (np.asarray(w, np.float64) for w in layer.get_weights())
            scale = gamma / np.sqrt(variance + layer.epsilon)
            arrays[f"W__{conv}"] = arrays[f"W__{conv}"] * (
                scale.reshape(arrays[f"W__{conv}"].shape[2:]) if spec[-1]["kind"] == "dwconv"
                else scale)
            arrays[f"b__{conv}"] = (arrays[f"b__{conv}"] - mean) * scale + beta
            alias[layer.name] = conv
        elif cls == "ReLU":
            spec.append({"name": layer.name, "kind": "relu6" if layer.max_value == 6 else "relu",
                         "inputs": ins})
        elif cls == "Add":
            spec.append({"name": layer.name, "kind": "add", "inputs": ins})
        elif cls == "GlobalAveragePooling2D":
            spec.append({"name": layer.name, "kind": "gap", "inputs": ins})
        elif cls == "Dense":
            arrays[f"W__{layer.name}"], arrays[f"b__{layer.name}"] = (
                np.asarray(w, np.float64) for w in layer.get_weights())
            spec.append({"name": layer.name, "kind": "dense", "inputs": ins})
        else:
            raise ValueError(f"export_network: {layer.name} ({cls}) is not supported")
    np.savez(path, spec=json.dumps(spec), low=np.asarray(low, np.float64),
             high=np.asarray(high, np.float64),
             input_shape=np.asarray(model.inputs[0].shape[1:]),
             num_classes=np.asarray(model.outputs[0].shape[-1]), **arrays)


def convolutions_only(model, composite, images_nonnegative=False):
    """A compiled function that does only the convolution work of ``composite``'s LRP on
    ``model``, as the engine schedules it, and nothing element-wise: the plain forward pass
    (BatchNorm folded, as the engine runs it), then per weighted layer one forward with the
    rule's modified weights and one input gradient per branch that the engine keeps after its
    pruning (for LRP-0/ε layers only the gradient of the plain forward). No division, no
    products, no sums of relevance. Its time is what the rules' arithmetic costs on these
    kernels: the engine's time above it is the element-wise work of the four steps, the Add
    splits, the pooling layers' relevance (max pooling's gradient, average pooling's step) and
    the Python around the compiled call (input checks, conversion to numpy). (It reuses the
    engine's graph reading and pruning to know which convolutions the rules need; it is a cost
    model, not a reference.)"""
    from lrp_teach._tf import tf
    from lrp_teach.propagate import engine, step as _step
    from lrp_teach.propagate.inputs import model_dtype

    steps = engine.model_chain(model)
    assignment = engine._assign(steps, composite)
    dtype = model_dtype(steps)
    groups, _ = engine.pruned_groups(steps, engine._step_rules(steps, assignment),
                                     images_nonnegative)

    def run(x):
        inputs, pre, _, weights, tapes = engine.forward(steps, x, dtype, step_tapes=True)
        gradients = []
        for i, step in enumerate(steps):
            if groups[i] is None or not step.weighted:
                continue
            a, term = inputs[i], _step.linear_term(step, *weights[i])
            if _step._is_plain(groups[i]):  # LRP-0/ε: the plain forward's own gradient
                gradients.append(tapes[i].gradient(pre[i], a, output_gradients=pre[i]))
                continue
            for group in groups[i]:
                for branch in group.branches:
                    # the branch's own input (a, a⁺, a⁻, ones), so that two branches with the
                    # same ρ(W) stay two convolutions, as in the engine; z^B's bounds: a itself
                    # (a constant image would be folded away; the engine's are not constants)
                    named = branch.input not in _step._BUILTIN_INPUTS
                    with tf.GradientTape() as tape:
                        b = a if named else _step._branch_input(branch.input, a, {})
                        tape.watch(b)
                        z = term(b, branch)
                    gradients.append(tape.gradient(z, b, output_gradients=z))
        return gradients

    return tf.function(run, autograph=False)


def measure(network: str, batches: list[int], repeats: int, threads: int | None,
            export: str | None = None) -> dict:
    """Time F, F+B and the two composites on ``network`` in THIS process (its oneDNN
    setting)."""
    info = configure_tensorflow(seed=0, threads=threads)
    from lrp_teach._tf import keras, tf

    model, low, high, note = build_network(network)  # seeded by configure_tensorflow
    if export:
        export_network(model, low, high, export)
    logits = logit_function(model)
    size = tuple(model.inputs[0].shape[1:])

    @tf.function
    def forward(x):
        return model(x, training=False)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            chosen = tf.reduce_sum(logits(x)[:, TARGET_CLASS])
        return tape.gradient(chosen, x)

    rng = np.random.default_rng(0)
    results = {}
    for batch in batches:
        x = rng.uniform(low, high, size=(batch, *size)).astype(np.float32)
        xt = tf.constant(x)
        nonnegative = bool(np.all(x >= 0))
        plus_convs = convolutions_only(model, composites.EpsilonPlusFlat(), nonnegative)
        box_convs = convolutions_only(model, composites.EpsilonGammaBox(low, high), nonnegative)
        timed = median_times({
            "F": lambda: forward(xt).numpy(),
            "FB": lambda: forward_backward(xt).numpy(),
            "plus": lambda: lrp_teach.explain(model, x, TARGET_CLASS,
                                              composites.EpsilonPlusFlat()),
            "box": lambda: lrp_teach.explain(model, x, TARGET_CLASS,
                                             composites.EpsilonGammaBox(low, high)),
            "plus_convs": lambda: plus_convs(xt),
            "box_convs": lambda: box_convs(xt),
        }, repeats if batch == 1 else max(1, (repeats + 1) // 2))
        t_f, t_fb = timed["F"], timed["FB"]
        print(f"  {network}, oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(TF default)')}, "
              f"batch {batch}: F+B {t_fb:.3f} s", file=sys.stderr, flush=True)  # progress
        results[str(batch)] = dict(F=t_f, FB=t_fb, plus=timed["plus"], box=timed["box"],
                                   plus_convs=timed["plus_convs"], box_convs=timed["box_convs"],
                                   floor=(2 * t_f + (t_fb - t_f)) / t_fb, rss=peak_rss_gb())
    return {"tf": tf.__version__, "keras": keras.__version__,
            "threads": info["intra_op_threads"], "note": note,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(TF default)"),
            "batches": results}


def run_setting(network: str, kernels: str, args, export: str | None = None) -> dict:
    """One network and kernel setting in a fresh interpreter (TF reads TF_ENABLE_ONEDNN_OPTS
    at load; the peak RSS is this network's)."""
    command = [sys.executable, __file__, "--worker", network, "--repeats", str(args.repeats),
               "--batches", *map(str, args.batches)]
    if export:
        command += ["--export", export]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": KERNELS[kernels]}
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the benchmark of {network} with oneDNN {kernels} failed "
                         f"(exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def zennit_python(args) -> str | None:
    candidate = args.zennit_python or os.environ.get("ZENNIT_PYTHON") or "/tmp/zvenv/bin/python"
    return candidate if Path(candidate).exists() else None


def run_zennit(python: str, network_file: str, args) -> dict | None:
    command = [python, str(Path(__file__).with_name("zennit_speed.py")), network_file,
               "--repeats", str(args.repeats), "--batches", *map(str, args.batches),
               "--threads", str(args.threads or 2), "--target", str(TARGET_CLASS)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"zennit: the measurement failed (exit {proc.returncode}); see above")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: the table's rows in order: each composite, then its convolutions-only time
ROWS = (("F", "F   (forward)"), ("FB", "F+B (forward + input gradient)"),
        ("plus", "LRP EpsilonPlusFlat"), ("plus_convs", "  its convolutions only"),
        ("box", "LRP EpsilonGammaBox"), ("box_convs", "  its convolutions only"))


def print_table(title: str, runs: dict, batches) -> None:
    """One table per network: the settings side by side, ratios to F + B, the floor."""
    names = list(runs)
    print(f"\n{title}")
    for batch in map(str, batches):
        print(f"\nbatch {batch}:" + "".join(f"{k:>29s}" for k in names) +
              ("      off/on" if names == ["oneDNN off", "oneDNN on"] else ""))
        for key, label in ROWS:
            cells = []
            for k in names:
                r = runs[k]["batches"][batch]
                cells.append(f"{r[key]:8.3f} s {r[key] / int(batch):6.3f} s/im "
                             f"{r[key] / r['FB']:5.2f}x" if key in r else "--")
            if all(cell == "--" for cell in cells):
                continue
            speedup = ""
            if names == ["oneDNN off", "oneDNN on"]:
                off = runs["oneDNN off"]["batches"][batch][key]
                speedup = f"  {off / runs['oneDNN on']['batches'][batch][key]:9.2f}x"
            print(f"  {label:31s}" + "".join(f"{c:>29s}" for c in cells) + speedup)
        print(f"  {'floor (2F+B)/(F+B)':31s}" +
              "".join(f"{runs[k]['batches'][batch]['floor']:28.2f}x" for k in names))
        print(f"  {'peak RSS (this process)':31s}" +
              "".join(f"{runs[k]['batches'][batch]['rss']:27.2f}GB" for k in names))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="TF intra-op threads (default 2)")
    parser.add_argument("--kernels", nargs="+", choices=list(KERNELS), default=list(KERNELS),
                        help="oneDNN settings to measure, each in its own subprocess")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--zennit-python", default=None,
                        help="interpreter of a venv with torch + zennit (default $ZENNIT_PYTHON "
                             "or /tmp/zvenv/bin/python)")
    parser.add_argument("--worker", choices=NETWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # one network and setting, in this process: the results as one JSON line
        print(json.dumps(measure(args.worker, args.batches, args.repeats, args.threads,
                                 args.export)))
        return 0

    import tempfile

    zpython = zennit_python(args)
    all_runs, zennit = {}, None
    with tempfile.TemporaryDirectory() as scratch:
        for network in args.networks:
            runs = {}
            for kernels in args.kernels:
                print(f"measuring {network} with oneDNN {kernels} "
                      f"(TF_ENABLE_ONEDNN_OPTS={KERNELS[kernels]}) ...", flush=True)
                export = (str(Path(scratch) / "network.npz")
                          if network == "efficientnet-lite0" and zpython else None)
                runs[f"oneDNN {kernels}"] = run_setting(network, kernels, args, export)
            all_runs[network] = runs
            if network == "efficientnet-lite0":
                if zpython:
                    print(f"measuring zennit on {network} ({zpython}) ...", flush=True)
                    zennit = run_zennit(zpython, str(Path(scratch) / "network.npz"), args)
                else:
                    print("zennit: not measured -- no interpreter with torch + zennit (give "
                          "--zennit-python or $ZENNIT_PYTHON; benchmarks/README.md says how to "
                          "make one)")

    for network, runs in all_runs.items():
        first = next(iter(runs.values()))
        table = dict(runs)
        if network == "efficientnet-lite0" and zennit:
            table[f"zennit {zennit['zennit']}"] = zennit
        print_table(f"{network} ({first['note']}), TF {first['tf']}, Keras {first['keras']}, "
                    f"{first['threads']} threads, median of {args.repeats} runs at batch 1 and "
                    f"{max(1, (args.repeats + 1) // 2)} at larger batches, interleaved within a "
                    "column; the columns ran one after the other"
                    + (f"; zennit: torch {zennit['torch']}, float32, {zennit['threads']} threads"
                       if network == "efficientnet-lite0" and zennit else ""),
                    table, args.batches)

    print("\nwhere the time goes (no target): the convolutions the rules need, alone, as a ratio "
          "to F+B, and the engine's time over them (the element-wise work and Python around them)")
    for network, runs in all_runs.items():
        for setting, run in runs.items():
            for batch, r in run["batches"].items():
                print(f"  {network}, {setting}, batch {batch}: EpsilonPlusFlat convolutions "
                      f"{r['plus_convs'] / r['FB']:.2f}x, engine {r['plus'] / r['plus_convs']:.2f}x "
                      f"of them; EpsilonGammaBox convolutions {r['box_convs'] / r['FB']:.2f}x, "
                      f"engine {r['box'] / r['box_convs']:.2f}x of them")

    print("\ntargets (each oneDNN setting against its own floor):")
    ok_all = True

    def check(label, ok):
        nonlocal ok_all
        ok_all &= bool(ok)
        print(f"  [{'met' if ok else 'MISSED'}] {label}")

    for network, runs in all_runs.items():
        for setting, run in runs.items():
            results = run["batches"]
            for batch, r in results.items():
                for key, label in (("plus", "EpsilonPlusFlat"), ("box", "EpsilonGammaBox")):
                    ratio = r[key] / r["FB"]
                    check(f"{network}, {setting}, batch {batch}: {label} {ratio:.2f}x within "
                          f"10 % of the floor {r['floor']:.2f}x", ratio <= 1.1 * r["floor"])
            if network == "vgg16" and "1" in results:
                check(f"{network}, {setting}: peak RSS at batch 1 {results['1']['rss']:.2f} GB "
                      "<= 2.5 GB", results["1"]["rss"] <= 2.5)
            if "1" in results and "8" in results:
                for key, label in (("plus", "EpsilonPlusFlat"), ("box", "EpsilonGammaBox")):
                    one, eight = results["1"][key], results["8"][key] / 8
                    check(f"{network}, {setting}: {label}: batch 8 {eight:.3f} s/image <= "
                          f"batch 1 {one:.3f} s/image (+5 % noise)", eight <= 1.05 * one)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
