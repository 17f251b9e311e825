"""The collection as Python sees it: a ``MutableMapping`` of str keys to any values."""

from __future__ import annotations

import datetime
import os
from collections.abc import ItemsView, Iterable, Mapping, MutableMapping, ValuesView
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import _progress, _values
from ._errors import (
    ConfigError,
    CorruptValueError,
    Error,
    InvalidKeyError,
    NotFoundError,
    UnsupportedError,
)
from ._s3kv import Collection as _CoreCollection

#: How many values one batch request reads or writes (each batch has a bounded number of
#: requests in flight, set by the connection's ``max_in_flight``).
BATCH = 64

_MISSING = object()

#: The ``kind`` of the errors Python raises itself, named as the Rust side names them.
_KIND_OF = {
    UnsupportedError: "unsupported",
    ConfigError: "config",
    InvalidKeyError: "invalid key",
    CorruptValueError: "corrupt",
}

Progress = Union[bool, Callable[[int, int], Any], None]
PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


def _check_key(key: Any, what: str = "keys") -> str:
    if not isinstance(key, str):
        raise InvalidKeyError(f"{what} must be str, not {type(key).__name__}")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(
            f"{what} must be valid text: this one holds a lone surrogate, which UTF-8 cannot "
            "encode"
        ) from None
    return key


def _key_list(keys: Iterable[str], operation: str) -> Iterable[str]:
    """``keys``, refusing a lone string, which would otherwise count as its characters."""
    if isinstance(keys, (str, bytes)):
        raise TypeError(
            f"{operation} takes an iterable of keys, not a single {type(keys).__name__}: "
            f"write {operation}([key])"
        )
    return keys


def _not_found(operation: str, collection: str, key: str) -> NotFoundError:
    error = NotFoundError(f"no value for key {key!r} in collection {collection!r}")
    error.operation, error.collection, error.key = operation, collection, key
    error.kind = "not found"
    return error


@dataclass(frozen=True)
class ValueInfo:
    """What is stored at a key, read from its metadata and header without decoding it."""

    #: The stored (compressed, encrypted) size in bytes.
    stored_size: int
    #: The size of the plain payload in bytes; ``None`` for a value of the original library.
    plain_size: Optional[int]
    #: When the value was last written (UTC), where the storage reports it.
    last_modified: Optional[datetime.datetime]
    #: The entity tag, where the storage has one (S3).
    etag: Optional[str]
    #: ``"bytes"``, ``"text"``, ``"cbor"`` or ``"pickle"``.
    kind: str
    #: ``"zstd"``, ``"lz4"`` or ``"none"``; ``"zlib"`` for a value of the original library.
    compression: str
    #: Whether the value is encrypted.
    encrypted: bool
    #: Whether the original ``st_s3kv_connection`` library wrote it.
    legacy: bool


class _Items(ItemsView):
    """``items()``: a live view whose iteration reads values in batches."""

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return self._mapping._items()  # type: ignore[attr-defined, no-any-return]


class _Values(ValuesView):
    """``values()``: a live view whose iteration reads values in batches."""

    def __iter__(self) -> Iterator[Any]:
        for _key, value in self._mapping._items():  # type: ignore[attr-defined]
            yield value


class Collection(MutableMapping):
    """A dict of str keys to values, stored compressed, and encrypted with a password.

    Reads and writes go straight to the storage: two collections opened on the same data see
    each other's writes. ``collection[key]`` raises :class:`s3kv.NotFoundError` (a
    ``KeyError``) for a missing key. Iteration and :meth:`keys` give keys in UTF-8 byte order;
    :meth:`keys` returns a list. A collection equals any mapping with the same keys and values
    (as a dict does), which reads every value; collections are not hashable.
    """

    __slots__ = ("_core", "_serializer")

    def __init__(self, core: _CoreCollection, serializer: str = "pickle") -> None:
        self._core = core
        self._serializer = _values.check_serializer(serializer)

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._core.name

    @property
    def encrypted(self) -> bool:
        """Whether values are encrypted (the collection was opened with a password)."""
        return self._core.encrypted

    @property
    def max_key_bytes(self) -> int:
        """The longest key, in UTF-8 bytes, the backend accepts in this collection."""
        return self._core.max_key_bytes

    @property
    def serializer(self) -> str:
        """How values other than bytes and str are stored: ``pickle``, ``json`` or ``cbor``."""
        return self._serializer

    def _decode(self, key: str, found: Tuple[int, Any, bool, bool]) -> Any:
        kind, data, _legacy, trusted = found
        if kind == _values.PICKLE and not trusted:
            error = UnsupportedError(
                f"refusing to unpickle the value of key {key!r}: collection {self.name!r} is "
                "not encrypted and lives on S3, so anyone who can write to the bucket could "
                "have planted it, and unpickling runs code. Open the collection with "
                "allow_pickle=True if you trust every writer, or use a password"
            )
            error.operation, error.collection, error.key = "get", self.name, key
            error.kind = "unsupported"
            raise error
        try:
            return _values.decode(kind, data, self._serializer)
        except Error as error:
            # Raised after the storage call: say where, as errors from the storage do.
            error.operation, error.collection, error.key = "get", self.name, key
            error.kind = error.kind or _KIND_OF.get(type(error))
            raise

    def _encode(self, value: Any, key: str, operation: str) -> Tuple[int, Any]:
        try:
            return _values.encode(value, self._serializer)
        except Error as error:
            # Raised before any storage call: say where, as errors from the storage do.
            error.operation, error.collection, error.key = operation, self.name, key
            error.kind = error.kind or _KIND_OF.get(type(error))
            raise

    def __getitem__(self, key: str) -> Any:
        found = self._core.get(_check_key(key))
        if found is None:
            raise _not_found("get", self.name, key)
        return self._decode(key, found)

    def get(self, key: str, default: Any = None, *, revalidate: bool = False) -> Any:
        """The value of ``key``, or ``default`` when it has none.

        With a ``ttl``, values are served from the read cache while fresh. ``revalidate=True``
        asks the storage whether a cached value changed, whatever its age: one small request
        that transfers the value only if it did (see ``docs/cache.md``).
        """
        found = self._core.get(_check_key(key), revalidate)
        if found is None:
            return default
        return self._decode(key, found)

    def cache_stats(self) -> Optional[Dict[str, int]]:
        """The read cache's counters (``hits``, ``misses``, ``stale_reads``, ``revalidations``,
        ``inserts``, ``bypassed``, ``evictions``, ``entries``, ``bytes``), or ``None`` when the
        collection has no ``ttl`` and so no cache."""
        return self._core.cache_stats()

    def __setitem__(self, key: str, value: Any) -> None:
        key = _check_key(key)
        kind, data = self._encode(value, key, "set")
        self._core.set(key, kind, data)

    def __delitem__(self, key: str) -> None:
        if not self._core.delete(_check_key(key)):
            raise _not_found("delete", self.name, key)

    def __contains__(self, key: object) -> bool:
        try:
            key = _check_key(key)
        except InvalidKeyError:
            return False
        return self._core.contains(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return self._core.len()

    def __repr__(self) -> str:
        lock = "encrypted" if self.encrypted else "not encrypted"
        return f"<s3kv collection {self.name!r}, {lock}>"

    def keys(self, prefix: str = "") -> List[str]:  # type: ignore[override]
        """Every key (or every key that starts with ``prefix``), in UTF-8 byte order.

        A list rather than a live view, as the original library returned: it is one listing of
        the storage, and it shows well in ``st.write``.
        """
        return self._core.keys(_check_key(prefix, "prefixes"))

    def items(self) -> ItemsView:  # type: ignore[override]
        """A view of ``(key, value)`` pairs; iterating it reads values in batches of 64."""
        return _Items(self)

    def values(self) -> ValuesView:  # type: ignore[override]
        """A view of the values; iterating it reads them in batches of 64."""
        return _Values(self)

    def _items(self) -> Iterator[Tuple[str, Any]]:
        keys = self.keys()
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            for key, found in zip(batch, self._core.get_many(batch)):
                # A key deleted since the listing is skipped, as a dict being changed would.
                if found is not None:
                    yield key, self._decode(key, found)

    def get_many(self, keys: Iterable[str]) -> Dict[str, Any]:
        """The values of ``keys`` that have one, as a dict, read with requests in parallel."""
        wanted = [_check_key(key) for key in _key_list(keys, "get_many")]
        result: Dict[str, Any] = {}
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            for key, found in zip(batch, self._core.get_many(batch)):
                if found is not None:
                    result[key] = self._decode(key, found)
        return result

    def set_many(self, items: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]]) -> None:
        """Store every ``key: value``, with requests in parallel. Not atomic: after an error,
        some values may be written and others not."""
        pairs = items.items() if isinstance(items, Mapping) else items
        batch: List[Tuple[str, int, Any]] = []
        for key, value in pairs:
            key = _check_key(key)
            kind, data = self._encode(value, key, "set_many")
            batch.append((key, kind, data))
            if len(batch) == BATCH:
                self._core.set_many(batch)
                batch = []
        if batch:
            self._core.set_many(batch)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete every key; return how many had a value.

        Every key is checked before anything is deleted: one bad key deletes nothing. The
        removal is the storage's batch delete (on S3, one request per 1000 keys).
        """
        wanted = [_check_key(key) for key in _key_list(keys, "delete_many")]
        return self._core.delete_many(wanted) if wanted else 0

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Store every pair of ``other`` and ``kwargs``, as ``dict.update``, in batches."""
        if isinstance(other, Mapping):
            self.set_many(other)
        elif hasattr(other, "keys"):
            self.set_many((key, other[key]) for key in other.keys())
        else:
            self.set_many(other)
        if kwargs:
            self.set_many(kwargs)

    def set_if_absent(self, key: str, value: Any) -> bool:
        """Store ``value`` only if ``key`` has none; return whether it was stored.

        Safe between processes: of two writers racing on one key, one wins. Raises
        :class:`s3kv.UnsupportedError` on a storage that cannot create conditionally.
        """
        key = _check_key(key)
        kind, data = self._encode(value, key, "set_if_absent")
        return self._core.set_if_absent(key, kind, data)

    def modify(self, key: str, function: Callable[[Any], Any], default: Any = None) -> Any:
        """Store ``function(current value)`` under ``key`` and return it, safely between
        processes: if another writer changes the value between the read and the write,
        ``function`` is called again with the new value (so it must have no other effects).
        ``default`` stands for the current value when ``key`` has none.

        Raises :class:`s3kv.UnsupportedError` on a storage that ignores conditional writes,
        :class:`s3kv.ConflictError` when other writers won 32 times in a row, and whatever
        ``function`` raises (nothing is stored then).
        """
        key = _check_key(key)
        latest: List[Any] = []

        def change(found: Any) -> Tuple[int, Any]:
            current = default if found is None else self._decode(key, found)
            new = function(current)
            latest[:] = [new]
            kind, data = self._encode(new, key, "modify")
            return kind, data

        self._core.update(key, change)
        return latest[0]

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of ``key``; if it has none, store ``default`` and return it.

        Uses :meth:`set_if_absent` where the storage supports it, so two processes never both
        store their default.
        """
        found = self._core.get(_check_key(key))
        if found is not None:
            return self._decode(key, found)
        try:
            if self.set_if_absent(key, default):
                return default
        except UnsupportedError:
            self[key] = default
            return default
        return self[key]

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value, or ``default`` when it has none."""
        # Revalidated: a value changed by another process within the ttl must not be returned
        # while the delete removes the newer one.
        found = self._core.get(_check_key(key), True)
        if found is None or not self._core.delete(key):
            if default is _MISSING:
                raise _not_found("pop", self.name, key)
            return default
        return self._decode(key, found)

    def popitem(self) -> Tuple[str, Any]:
        """Remove some key and return it with its value; KeyError when the collection is empty."""
        for key in self.keys():
            found = self._core.get(key, True)
            # Another writer may take a key between the listing and the delete: try the next.
            if found is not None and self._core.delete(key):
                return key, self._decode(key, found)
        raise _not_found("popitem", self.name, "")

    def clear(self) -> None:
        """Delete every key, in batches, without reading values."""
        self.delete_many(self.keys())

    def info(self, key: str) -> ValueInfo:
        """What is stored at ``key``: sizes, last modified, ETag, payload kind, compression."""
        found = self._core.info(_check_key(key))
        if found is None:
            raise _not_found("info", self.name, key)
        modified = found["last_modified"]
        return ValueInfo(
            stored_size=found["stored_size"],
            plain_size=found["plain_size"],
            last_modified=None
            if modified is None
            else datetime.datetime.fromtimestamp(modified, tz=datetime.timezone.utc),
            etag=found["etag"],
            kind=found["kind"],
            compression=found["compression"],
            encrypted=found["encrypted"],
            legacy=found["legacy"],
        )

    def put_file(self, key: str, path_or_fileobj: PathOrFile, progress: Progress = None) -> int:
        """Store a file's bytes under ``key``; return how many bytes were stored.

        ``path_or_fileobj`` is a path or a binary file object opened for reading. The file
        streams through in chunks, so a file of any size takes a few megabytes of memory.
        ``progress`` is a callable ``(done_bytes, total_bytes)``, or ``True`` for a bar
        (``st.progress`` inside Streamlit, tqdm in a terminal when it is installed). The value
        reads back as ``bytes``. On any failure nothing is stored and an earlier value stays; a
        progress callback that raises, or Ctrl-C, cancels the transfer the same way.
        """
        _check_key(key)
        report = _progress.reporter(progress, f"storing {key}")
        with _progress.opened(path_or_fileobj, "rb") as file:
            total = _progress.remaining(file)

            def transfer(progress: _progress.Report, stop: Callable[[], None]) -> int:
                counted = _progress.CountingReader(file, progress, total or 0)
                # A known length goes into the header (``info`` shows it) and is checked: a
                # file that changes size while it is stored is refused, not stored torn.
                return self._core.set_file(key, _values.BYTES, counted, total, stop)

            return _progress.on_this_thread(report, transfer)

    def get_file(self, key: str, path_or_fileobj: PathOrFile, progress: Progress = None) -> int:
        """Write the value of ``key`` (bytes or text) to a file; return how many bytes.

        ``path_or_fileobj`` is a path or a binary file object opened for writing. The value
        streams through in chunks, so a value of any size takes a few megabytes of memory. A
        path is written whole or not at all: the value goes to a temporary file beside it,
        which replaces the file at the path only once the value has checked out. A file object
        may be left with part of the value when reading fails. ``progress`` is as for
        :meth:`put_file`.
        """
        _check_key(key)
        report = _progress.reporter(progress, f"writing {key}")
        total = 0
        if report is not _progress.IGNORE:
            found_info = self._core.info(key)
            total = (found_info or {}).get("plain_size") or 0
        kinds = [_values.BYTES, _values.TEXT]
        try:
            with _progress.replacing(path_or_fileobj) as file:

                def transfer(progress: _progress.Report, stop: Callable[[], None]) -> Any:
                    counted = _progress.CountingWriter(file, progress, total)
                    return self._core.get_file(key, kinds, counted, stop)

                found = _progress.on_this_thread(report, transfer)
                if found is None:
                    raise _not_found("get_file", self.name, key)
                # Before the file is replaced: a callback that raises leaves the target as it was.
                report(found[0], found[0])
        except UnsupportedError as error:
            # The refusal names what the value is stored as: a pickle (of either format) or
            # CBOR, the two kinds that are not a file's bytes.
            stored_as = "a pickle" if "pickle" in str(error) else "CBOR"
            wrapped = UnsupportedError(
                f"the value of key {key!r} is not a file's bytes: get_file writes values "
                f"stored as bytes or text, and this one is a Python object stored as {stored_as}; "
                "read it with collection[key]"
            )
            for name in ("collection", "key", "backend", "kind"):
                setattr(wrapped, name, getattr(error, name, None))
            wrapped.operation = "get_file"
            raise wrapped from None
        return found[0]
