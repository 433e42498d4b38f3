"""The error a bad configuration raises (no dependencies, so every stage can raise it)."""


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line that names the key."""
