"""The exception hierarchy: every error streamguard raises on purpose derives from `StreamguardError`."""

from __future__ import annotations


class StreamguardError(Exception):
    """Base class of all streamguard errors."""


class ConfigError(StreamguardError):
    """A configuration file or option is invalid; the message names the file and the field."""


class CheckpointError(StreamguardError):
    """A checkpoint cannot be read, or does not match the architecture it claims."""


class ModelAssetError(StreamguardError):
    """A bundled model file (e.g. a BlazeFace `.tflite`) is missing or unreadable."""


class MediaDecodeError(StreamguardError):
    """An image or video could not be decoded."""


class DatasetError(StreamguardError):
    """A dataset folder does not have the expected layout."""


class StreamError(StreamguardError):
    """One stream failed (open, decode, stall); the stream is retried and the others are unaffected."""


class SinkError(StreamguardError):
    """An output (Redis) could not be written; events stay in the spool until it returns."""


class AlertEntryError(StreamguardError, ValueError):
    """An alerts-stream entry is not a well-formed alert entry; the message names the field."""


class InferenceUnavailable(StreamguardError):
    """A remote inference server did not answer (down, timed out or refusing); the batch's faces go unscored.

    Attributes:
        timed_out: The request ran past its deadline (rather than being refused or failing at once).
    """

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
