"""Errors shared by several modules, and the one check of a count (no dependencies, so
every stage and command can use them)."""

from typing import Any


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line that names the key."""


class DownloadError(RuntimeError):
    """A download, its verification or an archive extraction failed."""


class CLIError(Exception):
    """A user error of the ``sruq`` command: printed as one line, exit status 2."""


class MissingExtraError(RuntimeError):
    """An optional dependency (an extra of the package, or pretrained weights) is missing."""


def check_count(name: str, value: Any, minimum: int = 1, why: str = "") -> int:
    """``value`` as an ``int`` if it is an integer (a NumPy integer too, never a bool) of
    at least ``minimum``; otherwise ``ValueError`` naming ``name`` (and ``why``, e.g.
    " (one pass has no spread)")."""
    whole = (not isinstance(value, bool | float)
             and (isinstance(value, int) or hasattr(value, "__index__")))
    if not whole or int(value) < minimum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer of at least {minimum}")
        raise ValueError(f"{name} must be {what}{why}, got {value!r}")
    return int(value)
