"""One error family: every failure a user can cause is an RwsrError with a message that says
what was wrong, where, and what to do. The CLI prints the message (no traceback) and exits
with `exit_code`."""


class RwsrError(Exception):
    """Base of all errors rwsr raises on purpose."""

    exit_code = 1


class InputError(RwsrError):
    """A file or directory given by the user cannot be used (missing, unreadable, corrupt)."""


class ConfigError(RwsrError):
    """A configuration value or combination is invalid."""

    exit_code = 2


class CheckpointError(RwsrError):
    """A checkpoint cannot be read, recognised or loaded into the requested model."""


class WeightsUnavailableError(RwsrError):
    """Pretrained weights are needed but cannot be downloaded or found locally."""
