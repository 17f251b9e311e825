"""The Streamlit connection: ``st.connection("my_kv", type=S3KV)``.

Streamlit keeps ``type``, ``max_entries`` and ``ttl`` of ``st.connection`` for itself (``ttl``
there is the connection's lifetime) and passes every other keyword to s3kv. Settings are then
looked up as for :func:`s3kv.connect`, with the ``[connections.<name>]`` table of Streamlit's
secrets.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import streamlit as st
from streamlit.connections import BaseConnection

from . import Connection, _s3kv
from ._collection import Collection


def _plain(value: Any) -> Any:
    """Streamlit's secrets are read-only mappings; the loader wants plain dicts."""
    if hasattr(value, "items"):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


class S3KV(BaseConnection[Connection]):
    """A Streamlit connection to an s3kv storage; :meth:`collection` opens a dict."""

    def _secrets_table(self) -> Dict[str, Any]:
        table: Dict[str, Any] = {}
        # `_secrets` reads secrets.toml files; `st.secrets` also sees secrets set by AppTest.
        # Either raises when no secrets exist at all, which simply means none are set.
        try:
            table.update(_plain(self._secrets))
        except (FileNotFoundError, KeyError, AttributeError):
            pass
        try:
            connections = st.secrets.get("connections") or {}
            mine = connections.get(self._connection_name) if connections else None
            if mine:
                table.update(_plain(mine))
        except (FileNotFoundError, KeyError, AttributeError):
            pass
        except Exception as error:  # Streamlit's own "no secrets found" error class moved over time.
            if "secret" not in type(error).__name__.lower():
                raise
        table.pop("type", None)
        return table

    def _connect(self, **kwargs: Any) -> Connection:
        data = kwargs.pop("data", None)
        core = _s3kv.connect(self._connection_name, kwargs, self._secrets_table(), False, data)
        return Connection(core)

    def collection(self, name: str, password: Optional[str] = None, **options: Any) -> Collection:
        """Open the collection ``name``; ``password`` may be the second positional argument.

        Takes the options of :meth:`s3kv.Connection.collection` (``salt``, ``ttl``,
        ``serializer``, ``allow_pickle``).
        """
        return self._instance.collection(name, password, **options)

    def describe(self) -> str:
        """Where the data lives (backend kind and location), never a secret."""
        return self._instance.describe()
