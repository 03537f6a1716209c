"""``setup_notebook()``: the first code cell of every notebook.

It makes a notebook's outputs reproducible, so that nbval can compare them with the committed
ones: fixed seeds, deterministic TensorFlow ops, fixed thread counts (the order of a parallel
floating-point sum depends on the number of threads), quiet logging, and stable figure and
number formatting.
"""

from __future__ import annotations

import logging
import os
import warnings

from . import _env  # noqa: F401  (sets the TF environment variables before TF loads)

DEFAULT_SEED = 0
#: Threads TensorFlow may use. Results depend on it (summation order); 2 matches the course's
#: reference machine and CI. Override with the environment variable ``LRP_TEACH_THREADS``.
DEFAULT_THREADS = 2


def setup_notebook(seed: int = DEFAULT_SEED, tensorflow: bool = True, threads: int | None = None):
    """Prepare a notebook: seeds, determinism, quiet logs, plotting defaults.

    Parameters
    ----------
    seed : the seed for Python, NumPy and TensorFlow/Keras.
    tensorflow : import and configure TensorFlow (notebooks that only use sympy/numpy pass False
        and start faster).
    threads : intra-op threads for TensorFlow (default ``LRP_TEACH_THREADS`` or 2).

    Returns a short dict describing the configuration (printed by notebook 00).
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    np.set_printoptions(precision=4, suppress=True, linewidth=100)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    _configure_matplotlib()

    info = {"seed": seed, "tensorflow": None}
    if tensorflow:
        info["tensorflow"] = configure_tensorflow(seed=seed, threads=threads)
    return info


def configure_tensorflow(seed: int = DEFAULT_SEED, threads: int | None = None) -> dict:
    """Seed Keras/TF, enable deterministic ops and fix the thread counts.

    Thread counts can only be set before TensorFlow runs its first operation; if that has already
    happened (e.g. the cell was re-run), the current setting is kept and reported.
    """
    from ._tf import tf

    if threads is None:
        threads = threads_from_environment()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TF already initialised: the earlier setting stays, which is what a re-run wants.
    make_tensorflow_deterministic(seed)
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return {
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "deterministic_ops": True,
    }


def threads_from_environment() -> int:
    """``LRP_TEACH_THREADS`` (a positive integer) or the default, 2."""
    value = os.environ.get("LRP_TEACH_THREADS", "").strip()
    if not value:
        return DEFAULT_THREADS
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"LRP_TEACH_THREADS={value!r} is not a positive whole number of threads; "
                         f"set e.g. LRP_TEACH_THREADS=4, or unset it for the default "
                         f"({DEFAULT_THREADS})")
    return threads


def make_tensorflow_deterministic(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy, TensorFlow and Keras (``keras.utils.set_random_seed``) and make TF's
    ops deterministic -- the one place that does it (notebooks, training scripts)."""
    from ._tf import keras, tf

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - very old TF
        pass


def _configure_matplotlib() -> None:
    import matplotlib

    # In a Jupyter kernel, draw figures inline even if MPLBACKEND (e.g. "Agg", common on CI
    # machines) says otherwise: with a non-inline backend a notebook shows no figures at all.
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        import matplotlib.pyplot as plt

        plt.switch_backend("module://matplotlib_inline.backend_inline")

    # Inline figures as PNG at a fixed size and resolution, the same on every machine.
    matplotlib.rcParams.update(
        {
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "figure.figsize": (6.0, 4.0),
            "image.interpolation": "nearest",
            "axes.titlesize": "medium",
        }
    )
