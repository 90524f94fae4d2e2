"""The reporting layer: results into pages people read.

- ``leaderboard``: the ranked table per dataset, budget and GPU count, written as
  markdown and CSV beside the published references
- ``markdown``: cells that cannot break a table, a page or a spreadsheet
- ``report``: figures per group, the job page, the index of pages
- ``figures``: matplotlib figures, cached by a hash of their inputs
- ``regressions``: results that got worse than their previous ok ones
- ``export``: the AutoML Benchmark's results.csv layout

Imports the core and scoring layers; never the store or the execution layer.
"""
