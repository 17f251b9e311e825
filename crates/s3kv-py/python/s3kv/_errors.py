"""The s3kv exception hierarchy: every error s3kv raises derives from :class:`Error`.

Each exception carries where it happened as attributes: ``operation``, ``collection``,
``key``, ``backend`` and ``kind`` (a short name of the error kind); any may be ``None``.
"""

from __future__ import annotations

from typing import Optional


class Error(Exception):
    """Base class of every s3kv error."""

    operation: Optional[str] = None
    collection: Optional[str] = None
    key: Optional[str] = None
    backend: Optional[str] = None
    kind: Optional[str] = None


class NotFoundError(Error, KeyError):
    """The key has no value. Also a ``KeyError``, as a dict's missing key is."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class WrongPasswordError(Error):
    """The password (or salt) does not open the collection, or a password is needed."""


class CorruptValueError(Error):
    """A stored value failed its checks: damaged, tampered with, or moved from another key."""


class ConfigError(Error, ValueError):
    """A parameter is unknown, has a bad value, or a required one is missing."""


class InvalidKeyError(Error, ValueError, TypeError):
    """A key is not a str, is empty, or is longer than the backend allows."""


class UnsupportedError(Error):
    """The backend or this version of s3kv cannot do what was asked."""


class ConflictError(Error):
    """A conditional write lost against another writer."""


class BackendError(Error):
    """The storage failed or could not be reached; trying again later may help."""


class FileError(Error, OSError):
    """A file given to ``put_file`` or ``get_file`` did not behave as a binary file should
    (it gave fewer or more bytes than it said, or would not take what was written).
    Exceptions the file object raises itself pass through unchanged instead."""


class OutOfMemoryError(Error, MemoryError):
    """The process could not get the memory a value needs; the stored value may well be
    sound. Also a ``MemoryError``, as Python's own shortage is."""


__all__ = [
    "BackendError",
    "FileError",
    "OutOfMemoryError",
    "ConfigError",
    "ConflictError",
    "CorruptValueError",
    "Error",
    "InvalidKeyError",
    "NotFoundError",
    "UnsupportedError",
    "WrongPasswordError",
]
