"""The one exception the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable environment. The message names the fix."""
