"""User-facing errors.

Every problem caused by the user's input (a bad grammar, config value, dataset,
checkpoint, attack name, ...) is raised as a :class:`NeronetError` subclass whose
message is a single line naming the problem *and* the fix. The CLI turns these
into ``neronet: error: <message>`` and exit code 2, never a traceback.
"""


class NeronetError(Exception):
    """Base class of errors the user can fix; the message is one line."""


class GrammarError(NeronetError):
    """A grammar file is malformed; the message names the line."""


class ConfigError(NeronetError):
    """A config value is missing, unknown or out of range."""


class DataError(NeronetError):
    """A dataset is missing, corrupt or laid out wrongly."""


class StoreError(NeronetError):
    """A run directory or checkpoint cannot be used as asked."""


class StudyError(NeronetError):
    """A study directory, or a set of runs to compare, cannot be used as asked."""


class AttackError(NeronetError):
    """An unknown attack or suite name, or invalid attack settings."""


class InvalidArchitecture(Exception):
    """A NetworkSpec cannot be built (e.g. spatial size collapses below 1x1).

    Not a user error: the search turns it into an invalid individual with the
    message as the reason.
    """


class TransferSetError(NeronetError):
    """A transfer set (RAS's stored adversarial samples) is missing, corrupt or mismatched."""


class InputError(NeronetError, ValueError):
    """An argument of a Python API call has the wrong type, shape, dtype or range; the
    message names the argument. A ``ValueError`` too, as Python code expects."""
