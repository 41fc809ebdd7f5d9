"""Exceptions that end a run with a specific `status` instead of a crash.

Each carries the status string it is recorded under; anything else is `error`.
`ConfigError` and `DataFormatError` are also what the CLI prints as one line before exiting 2.
"""


class HarnessError(Exception):
    status = "error"


class ConfigError(HarnessError):
    """A config value names something that does not exist or has the wrong type."""


class DataFormatError(HarnessError):
    """A data file exists but is malformed; the message names the file and line."""


class MissingDataError(HarnessError):
    """The task's files are absent; the message names the paths tried and the fix."""

    status = "missing_data"


class UnsupportedError(HarnessError):
    """The device, precision or method cannot run this combination."""

    status = "unsupported"


class NoLearningError(HarnessError):
    """Training could not change the model: nothing trainable, or no trainable value moved
    (a learning rate of zero, a target list that froze everything)."""

    status = "no_learning"


class NanLossError(HarnessError):
    """Training loss became NaN or infinite."""

    status = "nan_loss"


def status_of(exc: BaseException) -> str:
    """The `status` a run ending with `exc` is recorded under."""
    if isinstance(exc, HarnessError):
        return exc.status
    name = type(exc).__name__
    if name == "OutOfMemoryError" or isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "oom"
    return "error"
