"""Quiet, reproducible TensorFlow: the one place every entry point goes through.

TensorFlow reads its logging variables once, when its C++ runtime loads. They must therefore be
set *before* ``import tensorflow`` runs anywhere; ``import lrp_teach`` does it first thing, and
every module of this package imports TensorFlow only after this module has run.
"""

import os

# Why each variable:
#  TF_CPP_MIN_LOG_LEVEL=3   hides the C++ INFO/WARNING/ERROR lines (CUDA stubs, cuInit, CPU
#                           feature notes, "oneDNN custom operations are on") that would otherwise
#                           land in notebook cells as stderr.
#  GRPC_VERBOSITY / ABSL    silence the absl / gRPC start-up banner lines.
#
# TF_ENABLE_ONEDNN_OPTS is deliberately NOT set: TensorFlow decides (its DefaultOneDnnPolicy:
# on for Windows x86, on Linux only for CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX -- off on
# the course's AVX2 CI machine). Where it is on it is faster (VGG16, issue 10, batch 1:
# 1.2-1.45x; EfficientNet-Lite0 in benchmarks/README.md). oneDNN changes the
# order of floating-point sums, so the last bits differ from the Eigen kernels -- but so do
# other CPUs, thread counts and SIMD widths, and the notebooks print only digits that survive all
# of them (checked by `make portability`, which runs them with oneDNN on and off). For
# bit-reproducible runs on one machine set TF_ENABLE_ONEDNN_OPTS=0 and a fixed LRP_TEACH_THREADS
# yourself (README, "Reproducibility"); a value you set wins over everything here.
QUIET_TF_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "ABSL_MIN_LOG_LEVEL": "3",
    "KERAS_BACKEND": "tensorflow",
}


def quiet_tensorflow_environment() -> None:
    """Set the variables above unless the user has set them already (their choice wins)."""
    for name, value in QUIET_TF_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


quiet_tensorflow_environment()


import contextlib
import sys


@contextlib.contextmanager
def silenced_stderr():
    """Send the process's file descriptor 2 to /dev/null for the duration of the block.

    TensorFlow 2.21 writes two lines ("All log messages before absl::InitializeLog()..." and a
    cudart_stub note) from C++ while it is being imported, before it reads
    ``TF_CPP_MIN_LOG_LEVEL``. They go straight to fd 2, which Jupyter copies into the cell's
    stderr output. Python exceptions are not affected (they propagate as objects). Set
    ``LRP_TEACH_VERBOSE_TF=1`` to see everything, e.g. when TensorFlow itself fails to load.
    """
    if os.environ.get("LRP_TEACH_VERBOSE_TF"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
