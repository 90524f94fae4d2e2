"""The scoring layer: the same measurement for every contender.

- ``protocol``: run a contender on a split under a budget and measure it, one typed
  ``Outcome``; ``to_result`` makes the store's row from it (the worker's and the
  contract's one path)
- ``check``: the contract check of one contender, in its own process
- ``metrics``: accuracy, top-5, macro-F1 and log-loss from ``predict_proba``
- ``inference``: single-image latency and batch throughput, and the watch on image
  encoders on that timed path
- ``stats``: paired tests between contenders (folds, seeds)
- ``examples``: what the report pictures need from a model, saved while it is in memory
"""
