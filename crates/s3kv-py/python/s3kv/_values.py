"""How Python values become stored payloads and back.

``bytes``, ``bytearray`` and ``memoryview`` are stored as raw bytes (read back as ``bytes``),
``str`` as UTF-8 text, and every other value through cloudpickle, which handles functions and
lambdas too.
"""

from __future__ import annotations

import pickle
from typing import Any, Tuple

import cloudpickle

from ._errors import UnsupportedError

BYTES = 0
TEXT = 1
CBOR = 2
PICKLE = 3


def encode(value: Any) -> Tuple[int, bytes]:
    """Return the payload kind code and bytes for ``value``."""
    if isinstance(value, bytes):
        return BYTES, value
    if isinstance(value, (bytearray, memoryview)):
        return BYTES, bytes(value)
    if isinstance(value, str):
        try:
            return TEXT, value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates are not UTF-8 text; a pickle keeps them exactly.
            pass
    return PICKLE, cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def decode(kind: int, data: bytes) -> Any:
    """Return the Python value of a payload."""
    if kind == BYTES:
        return data
    if kind == TEXT:
        return data.decode("utf-8")
    if kind == PICKLE:
        return pickle.loads(data)
    if kind == CBOR:
        try:
            import cbor2
        except ImportError:
            raise UnsupportedError(
                "this value is stored as CBOR; install the cbor2 package to read it"
            ) from None
        return cbor2.loads(data)
    raise UnsupportedError(f"payload kind {kind} is not known to this version of s3kv")
