"""The contenders layer: the contract, the registry, the families.

- ``contract``: ``Contender`` (the methods the harness calls), ``FitReport``, ``Epoch``,
  ``WeightsFile`` (a pretrained file a contender needs, for ``harness weights``)
- ``family``: ``Family`` (a framework's extra, modules, doctor probes, out-of-memory
  test and GPU peak), declared by the contenders that use it
- ``registry``: ``register``, ``list_contenders`` (wildcards), ``create``, plugins,
  ``parse_param`` (``--param CONTENDER.KEY=VALUE``)
- ``lineups``: ``@default``, ``@seeds``, ``@quick``, ``@all`` and why each member is in
- ``testing``: the contract as a reusable pytest class, for plugin authors too

Contenders themselves live in ``baselines/`` (or a plugin) and import from here.
Imports only :mod:`harness.core` and :mod:`harness.data`.
"""

from harness.contenders.contract import (
    KEEP_SIDE,
    Contender,
    Epoch,
    FitReport,
    WeightsFile,
    trained_side,
)
from harness.contenders.family import Family, Probe, families, is_out_of_memory
from harness.contenders.registry import (
    create,
    family_of,
    get,
    list_contenders,
    load_plugins,
    parse_param,
    register,
)
from harness.core.errors import ContenderUnavailable

__all__ = [
    "KEEP_SIDE", "Contender", "ContenderUnavailable", "Epoch", "Family", "FitReport",
    "Probe", "WeightsFile", "create", "families", "family_of", "get", "is_out_of_memory",
    "list_contenders", "load_plugins", "parse_param", "register", "trained_side",
]
