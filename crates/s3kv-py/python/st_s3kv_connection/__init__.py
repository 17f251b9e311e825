"""Compatibility with apps written for the original ``st_s3kv_connection`` library.

``from st_s3kv_connection import S3KV`` keeps working, and its collections keep the original's
behaviour that apps rely on: a missing key reads as ``None`` instead of raising ``KeyError``.
Storage errors are no longer swallowed: they raise, as they should.
"""

from __future__ import annotations

from typing import Any, Optional

from s3kv._collection import Collection
from s3kv.streamlit import S3KV as _S3KV


class LegacyCollection(Collection):
    """A collection whose missing keys read as ``None``, as in the original library."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


class S3KV(_S3KV):
    """The s3kv Streamlit connection, with the original library's collection behaviour."""

    def collection(self, name: str, password: Optional[str] = None, **options: Any) -> Collection:
        return LegacyCollection(super().collection(name, password, **options)._core)


__all__ = ["S3KV"]
