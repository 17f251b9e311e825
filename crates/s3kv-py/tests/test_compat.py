"""The compatibility collection keeps what apps of the original library depend on."""

import time

import pytest

import s3kv
from st_s3kv_connection import LegacyCollection


def legacy(conn_kwargs, name):
    conn = s3kv.connect(**conn_kwargs)
    plain = conn.collection(name, allow_pickle=True)
    return LegacyCollection(plain._core, plain.serializer)


def test_keys_are_listed_newest_first(conn_kwargs):
    if conn_kwargs["mode"] == "dict":
        pytest.skip("memory keeps no modification times")
    db = legacy(conn_kwargs, "newest")
    db["b-old"] = 1
    # S3 reports modification times to the second; writes a second apart are ordered.
    time.sleep(1.1)
    db["a-new"] = 2
    assert db.keys() == ["a-new", "b-old"]
    assert list(db) == ["a-new", "b-old"]


def test_a_missing_key_reads_as_none_and_pickles_are_read_on_s3(conn_kwargs):
    db = legacy(conn_kwargs, "compat")
    assert db["missing"] is None
    db["obj"] = {"a": 1}
    assert db["obj"] == {"a": 1}
