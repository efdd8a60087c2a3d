"""The project's error types.

Every failure a user can cause (bad input image, damaged .aec stream, unknown model, tampered checkpoint)
raises a subclass of :class:`AECodecError` whose message says what is wrong, so callers (and the CLI) can
catch one type and show one line.
"""


class AECodecError(Exception):
    """Base class of every error aecodec raises on purpose."""


class CorruptStreamError(AECodecError):
    """An .aec stream is malformed, truncated or fails its checksum."""


class UnsupportedVersionError(CorruptStreamError):
    """An .aec stream was written by a newer (or unknown) format version."""


class UnknownModelError(AECodecError):
    """A model id or quality level that no shipped checkpoint provides."""


class CheckpointError(AECodecError):
    """A checkpoint file is missing, corrupted or does not match its recorded sha256."""


class ImageInputError(AECodecError):
    """An input image cannot be read or has a layout aecodec does not handle."""


class AdapterError(AECodecError):
    """An adapter file is missing, damaged or made for another model, or a stream needs another adapter (or
    none) than the one given."""
