"""How Python values become stored payloads and back.

``bytes``, ``bytearray`` and ``memoryview`` are stored as raw bytes (read back as ``bytes``) and
``str`` as UTF-8 text. Every other value goes through the collection's serializer:

- ``"pickle"`` (the default): cloudpickle, which handles functions and lambdas too. Buffers of
  64 KiB or more (numpy arrays, for instance) are pickled out of band with protocol 5 and laid
  after the pickle, so they are copied once on the way in and not at all on the way out.
- ``"json"``: JSON text; on read, text payloads are parsed as JSON.
- ``"cbor"``: CBOR, for plain data that programs in other languages read.

CBOR payloads are read whatever the serializer, since CBOR says what it holds.
"""

from __future__ import annotations

import json
import pickle
import struct
from typing import Any, List, Tuple, Union

import cloudpickle

from . import _s3kv
from ._errors import ConfigError, CorruptValueError, Error, UnsupportedError

BYTES = 0
TEXT = 1
CBOR = 2
PICKLE = 3

SERIALIZERS = ("pickle", "json", "cbor")

#: The name of each payload kind, as ``Collection.info`` reports it.
KIND_NAMES = {BYTES: "bytes", TEXT: "text", CBOR: "cbor", PICKLE: "pickle"}

#: Buffers at least this large are pickled out of band; smaller ones stay in the pickle.
OUT_OF_BAND_MIN = 64 * 1024

# A pickle with out-of-band buffers is laid out as: the pickle, each buffer, then a footer of
# each buffer's length (u64, little-endian), their count (u32) and this marker. A plain pickle
# always ends with the STOP opcode ".", which the marker does not, so the two never mix up.
_MARKER = b"S3KVOOB5"
_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


def check_serializer(serializer: str) -> str:
    """Return ``serializer`` if it is one s3kv knows, else raise ConfigError."""
    if serializer not in SERIALIZERS:
        raise ConfigError(
            f"serializer must be one of {', '.join(map(repr, SERIALIZERS))}, not {serializer!r}"
        )
    return serializer


def encode(value: Any, serializer: str = "pickle") -> Tuple[int, Union[bytes, bytearray]]:
    """Return the payload kind code and bytes for ``value``."""
    if isinstance(value, bytes):
        return BYTES, value
    if isinstance(value, (bytearray, memoryview)):
        return BYTES, bytes(value)
    if serializer == "json":
        try:
            return TEXT, json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise UnsupportedError(f"serializer 'json' cannot store this value: {error}") from None
    if isinstance(value, str):
        try:
            return TEXT, value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates are not UTF-8 text; a pickle keeps them exactly.
            if serializer == "cbor":
                raise UnsupportedError("serializer 'cbor' cannot store a str with lone surrogates")
    if serializer == "cbor":
        return CBOR, _s3kv.cbor_dumps(value)
    return PICKLE, _pickle(value)


def _pickle(value: Any) -> bytes:
    buffers: List[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        # Returning a true value keeps the buffer in the pickle.
        if buffer.raw().nbytes < OUT_OF_BAND_MIN:
            return True
        buffers.append(buffer)
        return False

    try:
        main = cloudpickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    except Exception as error:  # pickling runs the value's own code, which may raise anything
        raise UnsupportedError(
            f"a value of type {type(value).__name__} cannot be pickled: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not buffers:
        return main
    raws = [buffer.raw() for buffer in buffers]
    footer = b"".join(_LENGTH.pack(raw.nbytes) for raw in raws)
    # One join: each buffer is copied once, straight into the payload.
    return b"".join([main, *raws, footer, _COUNT.pack(len(raws)), _MARKER])


def _unpickle(data: Union[bytes, bytearray]) -> Any:
    if not data.endswith(_MARKER):
        return pickle.loads(data)
    view = memoryview(data)
    end = len(view) - len(_MARKER) - _COUNT.size
    if end < 0:
        raise CorruptValueError("stored pickle has a cut-short buffer table")
    (count,) = _COUNT.unpack_from(view, end)
    table = end - count * _LENGTH.size
    if table < 0:
        raise CorruptValueError("stored pickle claims more buffers than it holds")
    lengths = [_LENGTH.unpack_from(view, table + i * _LENGTH.size)[0] for i in range(count)]
    start = table - sum(lengths)
    if start < 0:
        raise CorruptValueError("stored pickle claims longer buffers than it holds")
    # Views, not copies: a writable payload (bytearray) gives writable arrays.
    buffers = []
    offset = start
    for length in lengths:
        buffers.append(view[offset : offset + length])
        offset += length
    return pickle.loads(view[:start], buffers=buffers)


def _text(data: Union[bytes, bytearray]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptValueError(
            f"the stored text is not valid UTF-8 (from byte {error.start} of the value)"
        ) from None


def decode(kind: int, data: Union[bytes, bytearray, str], serializer: str = "pickle") -> Any:
    """Return the Python value of a payload; pickles must already be known to be trusted."""
    if kind == BYTES:
        return bytes(data) if isinstance(data, bytearray) else data
    if kind == TEXT:
        # A large text arrives already a str, built as it was decoded.
        text = data if isinstance(data, str) else _text(data)
        if serializer == "json":
            try:
                return json.loads(text)
            except ValueError:
                # Text someone stored as plain text, not as JSON: it reads as itself.
                return text
        return text
    if kind == PICKLE:
        try:
            return _unpickle(data)
        except Error:
            raise
        except ImportError as error:
            raise UnsupportedError(
                f"the stored pickle needs a module that cannot be imported here: {error}"
            ) from error
        except Exception as error:  # unpickling runs the classes' own code
            raise CorruptValueError(
                f"the stored pickle cannot be loaded: {type(error).__name__}: {error}"
            ) from error
    if kind == CBOR:
        return _s3kv.cbor_loads(data)
    raise UnsupportedError(f"payload kind {kind} is not known to this version of s3kv")
