"""The core layer: what every other layer speaks, importing nothing above it.

- ``errors``: ``HarnessError`` (bad input, one line naming the fix) and the typed
  failures a contender may raise (unavailable, diverged, out of memory)
- ``jobs``: ``Job`` (the unit of work), ``Result`` (a row), ``Status``, and the one
  mapping from a failure to a status
- ``budget``: durations and the training ``Budget``
- ``options``: the option table: each run option once, with its flag, suite key,
  parser and bounds
- ``config``: ``RunConfig``, made from the option table
- ``context``: the frozen ``JobContext`` a worker hands to its contender, and the job
  folder's file names
- ``names``: safe file names for any dataset or suite name
"""
