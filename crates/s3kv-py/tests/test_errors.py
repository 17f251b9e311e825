"""Bad input raises an s3kv exception that says what is wrong and what is allowed, and
writes nothing."""

import os
import socket
import time

import pytest

import s3kv


def test_wrong_password_is_reported_when_the_collection_opens(conn):
    db = conn.collection("vault", password="right")
    db["k"] = "v"
    with pytest.raises(s3kv.WrongPasswordError, match="wrong password") as caught:
        conn.collection("vault", password="wrong")
    assert caught.value.collection == "vault"
    assert "right" not in str(caught.value) and "wrong\"" not in str(caught.value)
    with pytest.raises(s3kv.WrongPasswordError, match="password"):
        conn.collection("vault")
    assert conn.collection("vault", password="right")["k"] == "v"


def test_a_wrong_password_writes_nothing(tmp_path):
    conn = s3kv.connect(mode="local", path=str(tmp_path))
    conn.collection("vault", password="right")["k"] = "v"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(s3kv.WrongPasswordError):
        s3kv.connect(mode="local", path=str(tmp_path)).collection("vault", password="wrong")
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_unknown_mode_names_the_allowed_ones():
    with pytest.raises(s3kv.ConfigError) as caught:
        s3kv.connect(mode="ftp")
    message = str(caught.value)
    for word in ("ftp", "s3", "local", "dict"):
        assert word in message
    assert isinstance(caught.value, ValueError)


def test_unknown_parameter_is_named():
    with pytest.raises(s3kv.ConfigError, match="pasword"):
        s3kv.connect(mode="dict", pasword="x")


def test_s3_without_a_bucket_says_bucket_is_required():
    with pytest.raises(s3kv.ConfigError, match="bucket"):
        s3kv.connect(mode="s3")


def test_an_endpoint_that_does_not_answer_fails_quickly_and_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(s3kv.BackendError) as caught:
        s3kv.connect(
            mode="s3", bucket="b", endpoint=f"http://127.0.0.1:{port}",
            access_key="test-access", secret_key="test-secret-value",
        )
    assert time.monotonic() - started < 20
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "test-secret-value" not in str(caught.value)


def test_a_key_longer_than_the_backend_allows_is_refused_with_the_limit(conn):
    db = conn.collection("limits")
    limit = db.max_key_bytes
    with pytest.raises(s3kv.InvalidKeyError, match=f"at most {limit} bytes"):
        db["k" * (limit + 1)] = "v"
    assert len(db) == 0
    db["k" * limit] = "v"
    assert len(db) == 1


def test_a_non_string_key_is_refused(conn):
    db = conn.collection("types")
    for key in (1, b"k", None, ("a",)):
        with pytest.raises(s3kv.InvalidKeyError, match="keys must be str"):
            db[key] = "v"
        with pytest.raises(TypeError):
            db[key]
        assert key not in db
    with pytest.raises(s3kv.InvalidKeyError, match="empty"):
        db[""] = "v"
    assert len(db) == 0


def test_a_connection_parameter_on_a_collection_is_refused(conn):
    with pytest.raises(s3kv.ConfigError, match="connection parameter"):
        conn.collection("c", bucket="other")


def test_data_mapping_outside_mode_dict_is_refused():
    with pytest.raises(s3kv.ConfigError, match="data="):
        s3kv.connect(mode="local", data={})


def test_a_tampered_value_is_reported_corrupt(tmp_path):
    db = s3kv.connect(mode="local", path=str(tmp_path)).collection("c", password="pw")
    db["k"] = "value" * 100
    stored = tmp_path / "63" / "6b"
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 1
    stored.write_bytes(bytes(raw))
    with pytest.raises(s3kv.CorruptValueError) as caught:
        db["k"]
    assert caught.value.key == "k" and caught.value.operation == "get"


def test_every_exception_derives_from_the_base_class():
    for name in ("NotFoundError", "WrongPasswordError", "CorruptValueError", "ConfigError",
                 "InvalidKeyError", "UnsupportedError", "ConflictError", "BackendError"):
        assert issubclass(getattr(s3kv, name), s3kv.Error)
    assert issubclass(s3kv.NotFoundError, KeyError)


def test_plain_python_example_runs(tmp_path):
    import runpy
    import sys

    example = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                           "plain_python.py")
    argv = sys.argv
    sys.argv = [example, str(tmp_path)]
    try:
        runpy.run_path(example, run_name="__main__")
    finally:
        sys.argv = argv
    assert (tmp_path / "6578616d706c6573" / "manifest.s3kv").is_file()


def test_a_value_the_serializer_cannot_store_says_where(conn):
    import threading

    db = conn.collection("values", serializer="json")
    with pytest.raises(s3kv.UnsupportedError) as raised:
        db["lock"] = threading.Lock()
    error = raised.value
    assert (error.operation, error.collection, error.key, error.kind) == (
        "set", "values", "lock", "unsupported"
    )
    with pytest.raises(s3kv.UnsupportedError) as raised:
        db.set_many({"fine": 1, "bad": object()})
    assert (raised.value.operation, raised.value.key) == ("set_many", "bad")
