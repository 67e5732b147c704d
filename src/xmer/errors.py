"""Errors a user can act on. The CLI prints their message (no traceback) and exits with status 2."""


class XmerError(Exception):
    """Base class: the message names the file, sample, key or value that is wrong."""


class ConfigError(XmerError):
    """An unknown or invalid configuration key or value."""


class DataError(XmerError):
    """A missing, unreadable or malformed dataset, feature file or sample."""


class NothingToRead(DataError):
    """An input was read, but none of its modalities can be used (no face, no speech, no words).
    The server answers it with 422, not 400: the request was well formed."""
