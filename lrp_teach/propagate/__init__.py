"""The LRP engine: ``explain(model, images, target, composite)``.

How it works
------------
1. :mod:`~lrp_teach.propagate.graph` reads the model's graph through public Keras API
   (``get_config()``): one input, one output, every layer called once, nested models expanded.
   :mod:`~lrp_teach.propagate.layers` -- every layer is read through ONE table of layer handlers
   (Conv2D, DepthwiseConv2D, Dense, pooling, padding, Flatten/Reshape, Dropout, ReLU/ReLU6,
   Activation, Add, Concatenate, a final Softmax; a BatchNormalization right after a
   Conv2D/DepthwiseConv2D/Dense is folded into it, :mod:`lrp_teach.canonizers`) -- BEFORE
   anything is computed. Anything else is an error that names the layer. A softmax (or sigmoid)
   at the end is dropped: the engine explains the LOGIT. The model is never modified.
2. The composite gives each Dense/Conv2D/DepthwiseConv2D layer a rule (:mod:`lrp_teach.rules`).
3. :mod:`~lrp_teach.propagate.engine` -- one compiled ``tf.function`` (cached per model, rules and
   input shape) does the plain forward pass, then walks back through the layers in reverse
   topological order; relevance arriving at a tensor that several layers read is summed. The
   relevance starts at the target logit's value (0 for the other classes). Every weighted
   layer, and average pooling (LRP-0, ρ = identity, ε = 1e-6 like zennit's ``Norm``), goes
   through the same generic step, :func:`~lrp_teach.propagate.step.four_steps` (Montavon et al.
   2019)::

       z = ε + ρ(W)·a             forward with the rule's weights (``layer(a, ρ(W), ρ(b))``)
       s = R / z                  element-wise; a zero denominator gives s = 0, never NaN
       c = ρ(W)ᵀ s                a gradient: ``tape.gradient(z, a, output_gradients=s)``
       R = a ⊙ c                  element-wise

   ``Add`` splits relevance in proportion to each input, ``R_i = x_i / (Σx + ε·sign(Σx)) · R``
   (LRP-0 with ε = 1e-6, zennit's ``Norm`` on its ``Sum``); ``Concatenate`` by slicing;
   ``ZeroPadding2D`` crops it. Max pooling passes relevance by its gradient (winner takes all);
   flatten/reshape/dropout/ReLU pass it unchanged.

Why it is fast (on VGG16 about one forward pass more than a plain gradient)
---------------------------------------------------------------------------
* LRP-0/ε layers reuse the plain forward pass: their z IS the pre-activation already computed,
  and ``c`` is the gradient of that same z, so they cost one backward step only.
* Rules state their textbook form; the engine drops what it proves zero
  (:func:`~lrp_teach.propagate.step.prune`), decided along the graph
  (:func:`~lrp_teach.propagate.engine.pruned_groups`): a layer whose input is provably ≥ 0
  (a ReLU's output, possibly through pooling, padding, reshape, dropout, or an Add/Concatenate
  of such tensors; images ≥ 0) has ``min(a, 0) = 0``, so the negative-input terms of z⁺, γ and
  α/β go; a layer whose EVERY reader is a ReLU (through dropout or a folded BatchNorm; an
  ``Add`` is not a ReLU) holds zero relevance at outputs with z ≤ 0 when every path on gives
  zero inputs zero relevance, so γ's "negative output" half goes.
* A denominator that is ≥ 0 whatever the numbers (z⁺'s ``a⁺W⁺ + b⁺ + a⁻W⁻``, flat's, w²'s;
  :func:`~lrp_teach.propagate.step.nonnegative_denominator`) is stabilised as ``z + ε``: its
  sign need not be taken -- the same numbers as ``z + ε·sign(z)`` on the CPU kernels, two
  passes over z fewer (:func:`~lrp_teach.propagate.step.proven_shifts` says where a GPU
  kernel can differ).
These shortcuts remove only terms that are exactly zero or work that changes no number; the
tests compare the engine with the rules' numpy references, which do not take them. Where a rule
needs more than one modified forward per layer (z⁺ on inputs of both signs, γ before no ReLU,
as in EfficientNet-Lite0), it costs more: benchmarks/README.md measures both networks.
"""

from __future__ import annotations

from .engine import compiled, explain, forward, model_chain, rule_table
from .graph import read_graph
from .inputs import check_images, check_target, model_dtype, num_classes
from .layers import HANDLERS, NORM_EPSILON, SUPPORTED_LAYERS, Step
from .step import four_steps, lrp_step, prune

__all__ = ["explain", "lrp_step", "model_chain", "rule_table", "SUPPORTED_LAYERS", "NORM_EPSILON",
           "HANDLERS", "Step", "four_steps", "prune", "forward", "compiled", "check_images",
           "check_target", "model_dtype", "num_classes", "read_graph"]
