"""Harness: image classifiers compared under the same time and GPU budget.

The package keeps TensorFlow, torch and AutoGluon out of its import path: they are
imported inside the worker process, by the contender that needs them.
"""

__version__ = "0.1.0"
