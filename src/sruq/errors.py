"""Errors shared by several modules (no dependencies, so every stage and command can
raise them)."""


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line that names the key."""


class DownloadError(RuntimeError):
    """A download, its verification or an archive extraction failed."""


class CLIError(Exception):
    """A user error of the ``sruq`` command: printed as one line, exit status 2."""
