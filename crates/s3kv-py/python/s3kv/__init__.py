"""s3kv: an encrypted, compressed dict on S3, a local folder or memory.

Plain Python::

    import s3kv
    conn = s3kv.connect(mode="local", path="data")
    db = conn.collection("examples", password="secret")
    db["k"] = {"a": 1}

Streamlit::

    import streamlit as st
    from s3kv import S3KV
    db = st.connection("my_kv", type=S3KV).collection("examples", "secret")

Settings come from keyword arguments, then environment variables ``<name>_<param>``, then
the ``[connections.<name>]`` table of ``.streamlit/secrets.toml``, then defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _s3kv, _values
from ._collection import Collection, _check_key, ValueInfo
from ._errors import (
    BackendError,
    FileError,
    ConfigError,
    ConflictError,
    CorruptValueError,
    Error,
    InvalidKeyError,
    NotFoundError,
    OutOfMemoryError,
    UnsupportedError,
    WrongPasswordError,
)

if TYPE_CHECKING:
    from .streamlit import S3KV

__version__: str = _s3kv.__version__


class Connection:
    """A connection to one storage: an S3 bucket, a local folder or memory."""

    __slots__ = ("_core",)

    def __init__(self, core: _s3kv.Connection) -> None:
        self._core = core

    def collection(
        self,
        name: str,
        password: Optional[str] = None,
        *,
        serializer: str = "pickle",
        allow_pickle: Optional[bool] = None,
        **options: Any,
    ) -> Collection:
        """Open the collection ``name``, a dict of str keys to values.

        ``password`` (also accepted as the second positional argument) encrypts the collection;
        ``salt`` and ``ttl`` may be given too. A wrong password raises
        :class:`WrongPasswordError` here, not at the first read. ``serializer`` stores values
        other than bytes and str with ``"pickle"`` (the default), ``"json"`` or ``"cbor"``.
        ``allow_pickle=True`` reads pickles of an unencrypted collection on S3, which anyone who
        can write to the bucket could have planted (unpickling runs code); not given, the
        connection's ``allow_pickle`` setting applies (false unless secrets or the environment
        say otherwise).
        """
        _check_key(name, "collection names")
        if password is not None:
            options["password"] = password
        serializer = _values.check_serializer(serializer)
        if allow_pickle is not None:
            if not isinstance(allow_pickle, bool):
                raise ConfigError(
                    f"allow_pickle must be True or False, not {type(allow_pickle).__name__}"
                )
            options["allow_pickle"] = allow_pickle
        return Collection(self._core.collection(name, options), serializer)

    def describe(self) -> str:
        """Where the data lives (backend kind and location), never a secret."""
        return self._core.describe()

    def __repr__(self) -> str:
        return f"<s3kv connection to {self.describe()}>"


def connect(name: Optional[str] = None, /, **kwargs: Any) -> Connection:
    """Open a connection.

    ``name`` names the settings to look up: environment variables ``<name>_<param>`` and the
    ``[connections.<name>]`` table of ``.streamlit/secrets.toml``; keyword arguments win over
    both. Parameters: ``mode`` (``"s3"``, ``"local"`` or ``"dict"``), ``password``, ``salt``,
    ``ttl``, ``access_key``, ``secret_key``, ``session_token``, ``endpoint``, ``addressing``,
    ``region``, ``bucket``, ``prefix``, ``path``, ``timeout``, ``connect_timeout``, ``retries``,
    ``max_in_flight``. In mode ``"dict"``, ``data`` may be a mapping of your own: the stored
    (encrypted, compressed) objects are kept in it as ``data[<hex collection>][<hex key>]``.
    """
    data = kwargs.pop("data", None)
    return Connection(_s3kv.connect(name, kwargs, None, True, data))


def __getattr__(name: str) -> Any:
    # Streamlit is optional: import the connection class only when it is asked for.
    if name == "S3KV":
        from .streamlit import S3KV

        return S3KV
    raise AttributeError(f"module 's3kv' has no attribute {name!r}")


__all__ = [
    "S3KV",
    "BackendError",
    "FileError",
    "Collection",
    "ConfigError",
    "ConflictError",
    "Connection",
    "CorruptValueError",
    "Error",
    "InvalidKeyError",
    "NotFoundError",
    "OutOfMemoryError",
    "UnsupportedError",
    "ValueInfo",
    "WrongPasswordError",
    "connect",
]
