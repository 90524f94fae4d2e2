"""The scoring layer: the same measurement for every contender.

- ``metrics``: accuracy, top-5, macro-F1 and log-loss from ``predict_proba``
- ``inference``: single-image latency and batch throughput
- ``stats``: paired tests between contenders (folds, seeds)
- ``examples``: what the report pictures need from a model, saved while it is in memory
"""
