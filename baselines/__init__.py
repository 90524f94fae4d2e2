"""The built-in contenders, one module or package per family. Importing this package registers
them all (the registry imports it first, before any plugin).

Modules here import only the standard library, numpy and ``harness``'s core, data and
contenders layers at module level; TensorFlow, torch and AutoGluon are imported inside
the methods that use them. A contender's configuration is its parameters and the
:class:`~harness.core.context.JobContext` it is handed: nothing here reads the
environment.
"""

from baselines import (  # noqa: F401  (registration)
    automm,
    keras,
    sklearn_models,
)
