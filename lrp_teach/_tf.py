"""Import TensorFlow and Keras once, quietly. Package modules use ``from ._tf import tf, keras``."""

from ._env import silenced_stderr

with silenced_stderr():
    import tensorflow as tf  # noqa: E402
    import keras  # noqa: E402

__all__ = ["tf", "keras"]
