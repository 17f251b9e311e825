"""Compatibility with apps written for the original ``st_s3kv_connection`` library.

``from st_s3kv_connection import S3KV`` keeps working, and its collections keep the original's
behaviour that apps rely on: a missing key reads as ``None`` instead of raising ``KeyError``,
:meth:`keys` lists the newest first, and pickles are read on S3 without ``allow_pickle``.
Storage errors are no longer swallowed: they raise, as they should.

Apps that call ``st.experimental_connection`` need a Streamlit that still has it; s3kv does
not add it to a Streamlit that dropped it (``st.connection`` takes the same arguments).
"""

from __future__ import annotations

from typing import Any, List, Optional

from s3kv._collection import Collection
from s3kv.streamlit import S3KV as _S3KV


class LegacyCollection(Collection):
    """A collection that behaves as the original library's did where apps depend on it."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def keys(self, prefix: str = "") -> List[str]:  # type: ignore[override]
        """Every key (or every key under ``prefix``), the most recently written first."""
        listed = self._core.list(prefix)
        # Ties, and storages without times, fall back to key order.
        listed.sort(key=lambda entry: entry[0])
        listed.sort(key=lambda entry: entry[2] or 0.0, reverse=True)
        return [entry[0] for entry in listed]


class S3KV(_S3KV):
    """The s3kv Streamlit connection, with the original library's collection behaviour."""

    def collection(self, name: str, password: Optional[str] = None, **options: Any) -> Collection:
        options.setdefault("allow_pickle", True)
        opened = super().collection(name, password, **options)
        return LegacyCollection(opened._core, opened.serializer)


__all__ = ["LegacyCollection", "S3KV"]
