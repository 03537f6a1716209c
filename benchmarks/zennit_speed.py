"""zennit's speed on the network bench_lrp.py measures, for the same table (torch side).

Run by ``bench_lrp.py`` with the interpreter of a separate venv that has torch + zennit (never a
course dependency; see benchmarks/README.md):

    /tmp/zvenv/bin/python benchmarks/zennit_speed.py NETWORK.npz --batches 1 8 --repeats 3

NETWORK.npz is written by bench_lrp.py from the Keras model: the layers in topological order
(``spec``, JSON) with every BatchNormalization already folded into the convolution before it, so
both libraries run the same function (zennit's own canonizer would do the same fold; its cost
is not part of one explanation either way). The net is rebuilt with torch modules -- Conv2d
(depthwise: ``groups`` = channels) after an explicit ``ZeroPad2d`` for TensorFlow's "same"
padding, ReLU6, zennit's ``Sum`` for the residual adds, AdaptiveAvgPool2d, Linear -- and timed
in float32 NCHW with ``torch.set_num_threads(threads)``:

* F: the forward pass (``torch.no_grad``);
* F + B: forward + gradient of the target logit with respect to the input;
* zennit EpsilonPlusFlat / EpsilonGammaBox: zennit's documented use as one call, ``with
  Gradient(model, composite) as attributor: attributor(x, one_hot × logit)`` (registering and
  removing the hooks included, as lrp_teach.explain's checks are included on its side).

The four take turns in each repeat (round robin), like bench_lrp.py's.

Prints one JSON line: the median times, torch/zennit versions and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np


def import_zennit():
    """zennit, with the torchvision stub of compare_zennit.py where torchvision cannot load."""
    from compare_zennit import _import_zennit  # same folder; numpy-only at import time

    return _import_zennit()


def build(spec, arrays):
    """A torch module that runs ``spec`` (see bench_lrp.export_network)."""
    import torch
    from zennit.layer import Sum

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ops = spec
            self.mods = torch.nn.ModuleDict()
            for op in spec:  # registered in forward order
                name, kind = op["name"], op["kind"]
                if kind in ("conv", "dwconv"):
                    kernel = arrays[f"W__{name}"]  # HWIO (depthwise: H W C 1)
                    kh, kw, cin, cout = kernel.shape
                    groups = cin if kind == "dwconv" else 1
                    out = cin * cout if kind == "dwconv" else cout
                    top, bottom, left, right = op["pad"]
                    self.mods[name + "_pad"] = torch.nn.ZeroPad2d((left, right, top, bottom))
                    conv = torch.nn.Conv2d(cin, out, (kh, kw), stride=op["stride"], groups=groups,
                                           bias=True)
                    weight = (kernel.transpose(2, 3, 0, 1).reshape(out, 1, kh, kw)
                              if kind == "dwconv" else kernel.transpose(3, 2, 0, 1))
                    conv.weight.data = torch.tensor(np.ascontiguousarray(weight))
                    conv.bias.data = torch.tensor(arrays[f"b__{name}"])
                    self.mods[name] = conv
                elif kind == "relu6":
                    self.mods[name] = torch.nn.ReLU6()
                elif kind == "relu":
                    self.mods[name] = torch.nn.ReLU()
                elif kind == "add":
                    self.mods[name] = Sum()
                elif kind == "gap":
                    self.mods[name] = torch.nn.AdaptiveAvgPool2d(1)
                elif kind == "dense":
                    kernel = arrays[f"W__{name}"]
                    dense = torch.nn.Linear(*kernel.shape)
                    dense.weight.data = torch.tensor(np.ascontiguousarray(kernel.T))
                    dense.bias.data = torch.tensor(arrays[f"b__{name}"])
                    self.mods[name] = dense

        def forward(self, x):
            values = {"input": x}
            for op in self.ops:
                name, kind = op["name"], op["kind"]
                ins = [values[s] for s in op["inputs"]]
                if kind in ("conv", "dwconv"):
                    y = self.mods[name](self.mods[name + "_pad"](ins[0]))
                elif kind == "add":
                    y = self.mods[name](torch.stack(ins, dim=-1))
                elif kind == "gap":
                    y = self.mods[name](ins[0]).flatten(1)
                else:
                    y = self.mods[name](ins[0])
                values[name] = y
            return values[self.ops[-1]["name"]]

    return Net().eval()


def median_times(functions, repeats):
    for fn in functions.values():
        fn()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=int, default=281)
    args = parser.parse_args(argv)

    import torch

    zennit = import_zennit()
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    torch.set_num_threads(args.threads)
    data = np.load(args.network)
    spec = json.loads(str(data["spec"]))
    arrays = {k: data[k].astype(np.float32) for k in data.files if k != "spec"}
    model = build(spec, arrays)
    low = torch.tensor(arrays["low"]).reshape(1, 3, 1, 1)
    high = torch.tensor(arrays["high"]).reshape(1, 3, 1, 1)
    rng = np.random.default_rng(0)
    results = {}
    for batch in args.batches:
        size = tuple(int(s) for s in arrays["input_shape"])
        x = rng.uniform(arrays["low"], arrays["high"], size=(batch, *size)).astype(np.float32)
        x = torch.tensor(x.transpose(0, 3, 1, 2).copy())
        one_hot = torch.zeros(batch, int(arrays["num_classes"]))
        one_hot[:, args.target] = 1.0

        def forward():
            with torch.no_grad():
                return model(x)

        def forward_backward():
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            return torch.autograd.grad(logits[:, args.target].sum(), xg)[0]

        composites = {
            "plus": lambda: EpsilonPlusFlat(),
            # (1, 3, 1, 1) bounds broadcast to the first conv's (padded) input; the padded
            # border then gets [low, high] rather than [0, 0] -- same cost, used for timing only
            "box": lambda: EpsilonGammaBox(low=low, high=high),
        }

        def lrp(key):
            # zennit's documented use, as one call: register the hooks, explain, remove them
            with Gradient(model, composites[key]()) as attributor:
                return attributor(x, lambda out: one_hot * out)[1]

        timed = median_times({"F": forward, "FB": forward_backward,
                              "plus": lambda: lrp("plus"), "box": lambda: lrp("box")},
                             args.repeats if batch == 1 else max(1, (args.repeats + 1) // 2))
        t_fb = timed["FB"]
        results[str(batch)] = dict(
            F=timed["F"], FB=t_fb, plus=timed["plus"], box=timed["box"],
            floor=(2 * timed["F"] + (t_fb - timed["F"])) / t_fb,
            rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2)
        print(f"  zennit, batch {batch}: F+B {t_fb:.3f} s", file=sys.stderr, flush=True)
    from importlib.metadata import PackageNotFoundError, version  # zennit has no __version__

    try:
        zennit_version = version("zennit")
    except PackageNotFoundError:  # e.g. a source checkout on PYTHONPATH
        zennit_version = "?"
    print(json.dumps({"torch": torch.__version__, "zennit": zennit_version,
                      "threads": torch.get_num_threads(), "batches": results}))


if __name__ == "__main__":
    main()
