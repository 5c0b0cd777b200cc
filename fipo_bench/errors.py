"""The one error family users see.

Every user-facing failure raises a subclass of `FipoBenchError` with a one-line message that
names the bad value and what is allowed. The CLI prints the message (no traceback) and exits 2.
"""


class FipoBenchError(Exception):
    """Base of every error a user can cause; str(err) is a single line."""

    exit_code = 2


class ConfigError(FipoBenchError):
    """A configuration value (CLI flag, preset, --set override) is invalid."""


class DataError(FipoBenchError):
    """A dataset name, file or row cannot be used."""


class StoreError(FipoBenchError):
    """The DuckDB file is unusable (not DuckDB, newer schema, locked too long, unknown id)."""


class ModelError(FipoBenchError):
    """A model path or id cannot be loaded as a causal LM, or tokenizers mismatch."""


class EngineError(FipoBenchError):
    """A generation engine is unavailable or was asked for something it cannot do."""


class VerifyError(FipoBenchError):
    """Answer verification was called with invalid arguments."""
