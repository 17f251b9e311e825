"""The collection as Python sees it: a ``MutableMapping`` of str keys to any values."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Iterator, List

from . import _values
from ._errors import InvalidKeyError, NotFoundError
from ._s3kv import Collection as _CoreCollection


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidKeyError(f"keys must be str, not {type(key).__name__}")
    return key


class Collection(MutableMapping):
    """A dict of str keys to values, stored encrypted and compressed.

    Reads and writes go straight to the storage: two collections opened on the same data see
    each other's writes. ``collection[key]`` raises :class:`s3kv.NotFoundError` (a
    ``KeyError``) for a missing key. Iteration and :meth:`keys` give keys in UTF-8 byte order; :meth:`keys` returns a list.
    Two collections compare equal as mappings (same keys and values), as dicts do.
    """

    __slots__ = ("_core",)

    def __init__(self, core: _CoreCollection) -> None:
        self._core = core

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

    def __getitem__(self, key: str) -> Any:
        found = self._core.get(_check_key(key))
        if found is None:
            error = NotFoundError(f"no value for key {key!r} in collection {self.name!r}")
            error.operation, error.collection, error.key = "get", self.name, key
            error.kind = "not found"
            raise error
        kind, data, _legacy = found
        return _values.decode(kind, data)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it has none."""
        found = self._core.get(_check_key(key))
        if found is None:
            return default
        kind, data, _legacy = found
        return _values.decode(kind, data)

    def __setitem__(self, key: str, value: Any) -> None:
        kind, data = _values.encode(value)
        self._core.set(_check_key(key), kind, data)

    def __delitem__(self, key: str) -> None:
        if not self._core.delete(_check_key(key)):
            error = NotFoundError(f"no value for key {key!r} in collection {self.name!r}")
            error.operation, error.collection, error.key = "delete", self.name, key
            error.kind = "not found"
            raise error

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self._core.contains(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._core.keys())

    def __len__(self) -> int:
        return self._core.len()

    def __repr__(self) -> str:
        lock = "encrypted" if self.encrypted else "not encrypted"
        return f"<s3kv collection {self.name!r}, {lock}>"

    def keys(self) -> List[str]:  # type: ignore[override]
        """Every key, in UTF-8 byte order, from one listing of the storage.

        A list rather than a live view, as the original library returned: it is one request,
        and it shows well in ``st.write``.
        """
        return self._core.keys()
