"""Inputs that once escaped the s3kv exception hierarchy, hung, or leaked a secret."""

import math
import os
import pickle
import signal
import threading

import pytest

import s3kv


def test_a_surrogate_in_a_password_is_refused_without_showing_it():
    with pytest.raises(s3kv.ConfigError) as caught:
        s3kv.connect(mode="dict").collection("c", password="hunter2PW\ud800")
    shown = str(caught.value) + repr(caught.value) + repr(caught.value.args)
    assert "hunter2PW" not in shown
    assert "password" in str(caught.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_not_ignored(value):
    with pytest.raises(s3kv.ConfigError, match="finite"):
        s3kv.connect(mode="dict", timeout=value)
    with pytest.raises(s3kv.ConfigError, match="finite"):
        s3kv.connect(mode="dict").collection("c", password=value)


def test_keys_and_names_with_surrogates_are_invalid_keys(conn):
    db = conn.collection("c")
    with pytest.raises(s3kv.InvalidKeyError, match="surrogate"):
        db["a\udc80"] = 1
    assert "a\udc80" not in db
    with pytest.raises(s3kv.InvalidKeyError, match="surrogate"):
        conn.collection("c\udc80")
    with pytest.raises(s3kv.InvalidKeyError, match="collection names must be str"):
        conn.collection(7)


def test_a_bad_key_is_reported_before_the_value_is_pickled(conn):
    db = conn.collection("c")
    with pytest.raises(s3kv.InvalidKeyError):
        db[1] = threading.Lock()


def test_a_value_that_cannot_be_pickled_is_an_s3kv_error_and_writes_nothing(conn):
    db = conn.collection("c")
    with pytest.raises(s3kv.UnsupportedError, match="cannot be pickled"):
        db["k"] = threading.Lock()
    assert "k" not in db


class _Refuses:
    def __reduce__(self):
        raise RuntimeError("no")


def test_a_value_whose_own_pickling_raises_is_an_s3kv_error(conn):
    db = conn.collection("c")
    with pytest.raises(s3kv.UnsupportedError, match="RuntimeError"):
        db["k"] = _Refuses()
    assert len(db) == 0


def test_a_pickle_that_cannot_be_loaded_is_an_s3kv_error(conn):
    # allow_pickle: on S3 an unencrypted pickle is otherwise refused before it is loaded.
    db = conn.collection("c", allow_pickle=True)
    # A protocol-2 pickle of a global from a module that does not exist.
    db._core.set("needs a module", 3, b"\x80\x02cnomodule_xyz\nthing\nq\x00.")
    with pytest.raises(s3kv.UnsupportedError, match="module"):
        db["needs a module"]
    db._core.set("garbage", 3, b"\x80\x04not a pickle at all")
    with pytest.raises(s3kv.CorruptValueError, match="cannot be loaded"):
        db["garbage"]


def test_calling_s3kv_from_inside_a_data_mapping_is_refused_not_a_panic():
    other = s3kv.connect(mode="dict").collection("other")

    class Reentrant(dict):
        def __getitem__(self, key):
            other["x"] = 1
            return dict.__getitem__(self, key)

    conn = s3kv.connect(mode="dict", data=Reentrant())
    # The mapping's error reaches the caller as the mapping's failure, with the reason in it.
    with pytest.raises(s3kv.Error, match="inside another s3kv call"):
        conn.collection("c").get("k")



def test_calling_s3kv_from_the_function_given_to_modify_is_refused_and_says_so(tmp_path):
    db = s3kv.connect(mode="local", path=str(tmp_path)).collection("c")
    db["other"] = 1

    with pytest.raises(s3kv.UnsupportedError, match="function given to modify"):
        db.modify("k", lambda current: db["other"] + 1, default=0)
    assert "k" not in db
    # Read first, then modify: the supported way.
    other = db["other"]
    assert db.modify("k", lambda current: current + other, default=0) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_open_a_new_connection_and_is_told_about_the_old(tmp_path):
    parent = s3kv.connect(mode="local", path=str(tmp_path)).collection("c")
    parent["k"] = "v"
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        outcome = b"?"
        try:
            signal.alarm(20)
            fresh = s3kv.connect(mode="local", path=str(tmp_path)).collection("c")
            outcome = b"new:" + fresh["k"].encode()
            try:
                parent["k"]
            except s3kv.UnsupportedError:
                outcome += b";old:refused"
        finally:
            os.write(write, outcome)
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    message = os.read(read, 100)
    os.close(read)
    assert status == 0
    assert message == b"new:v;old:refused"
    assert parent["k"] == "v", "the parent's connection still works"
