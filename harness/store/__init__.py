"""The store layer: append-only result rows in any SQLAlchemy database, and job claims.

- ``database``: ``Store`` (rows, claims with leases, queries) and ``redact`` (URLs
  with their passwords masked)
- ``claims``: who holds a claim, and whether that runner is still alive

Imports only :mod:`harness.core`.
"""

from harness.store.claims import LEASE_SECONDS, new_owner, owner_alive
from harness.store.database import Store, StoreError, StoreMissing, redact

__all__ = ["LEASE_SECONDS", "Store", "StoreError", "StoreMissing", "new_owner", "owner_alive",
           "redact"]
