"""The contenders, one module per family. Importing this package registers them all.

Modules here import only the standard library and ``harness`` at module level;
TensorFlow, torch and AutoGluon are imported inside the methods that use them.
"""

from baselines import (  # noqa: F401  (registration)
    automm,
    keras_cnn,
    keras_transfer,
    keras_tuning,
    sklearn_models,
)
