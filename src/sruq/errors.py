"""The errors a bad configuration or command line raises (no dependencies, so every stage
and command can raise them)."""


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line that names the key."""


class CLIError(Exception):
    """A user error of the ``sruq`` command: printed as one line, exit status 2."""
