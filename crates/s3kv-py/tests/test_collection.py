"""The collection is a dict: every value goes in and comes out the same, in every mode."""

import collections.abc

import numpy as np
import pytest

import s3kv


def test_a_collection_is_a_mutable_mapping(conn):
    db = conn.collection("examples", password="secret")
    assert isinstance(db, collections.abc.MutableMapping)
    assert db.encrypted


def test_the_issue_walkthrough_works(conn):
    db = conn.collection("examples", password="secret")
    db["k"] = {"a": 1}
    assert db["k"] == {"a": 1}
    assert "k" in db
    assert len(db) == 1
    assert list(db) == ["k"]
    assert db.keys() == ["k"]
    assert db.get("k", "default") == {"a": 1}
    del db["k"]
    assert "k" not in db
    assert db.get("k", "default") == "default"
    assert len(db) == 0


@pytest.mark.parametrize("password", [None, "secret"])
def test_values_of_every_kind_round_trip(conn, password):
    # Unencrypted pickles on S3 are read only on request; allow_pickle has tests of its own.
    db = conn.collection("values", password=password, allow_pickle=True)
    db["text"] = "🎈 héllo"
    db["dict"] = {"name": "Boaty McBoatface", "launched": 2017}
    db["array"] = np.array([42, 2501, 1337])
    db["function"] = lambda x: f"Hello {x}!"
    db["bytes"] = b"\x00\xff" * 10
    db["bytearray"] = bytearray(b"abc")
    db["memoryview"] = memoryview(b"xyz")
    db["empty"] = b""
    db["none"] = None
    db["surrogate"] = "\udc80"

    assert db["text"] == "🎈 héllo"
    assert isinstance(db["text"], str)
    assert db["dict"] == {"name": "Boaty McBoatface", "launched": 2017}
    assert np.array_equal(db["array"], np.array([42, 2501, 1337]))
    assert db["function"]("Boaty") == "Hello Boaty!"
    assert db["bytes"] == b"\x00\xff" * 10
    assert db["bytearray"] == b"abc" and type(db["bytearray"]) is bytes
    assert db["memoryview"] == b"xyz" and type(db["memoryview"]) is bytes
    assert db["empty"] == b""
    assert db["none"] is None and "none" in db
    assert db["surrogate"] == "\udc80"
    assert sorted(db) == sorted(
        ["text", "dict", "array", "function", "bytes", "bytearray", "memoryview", "empty",
         "none", "surrogate"]
    )


def test_a_large_value_round_trips(conn):
    db = conn.collection("big", password="secret")
    value = "1234567890" * 1_000_000
    db["big"] = value
    assert db["big"] == value


def test_mapping_methods_from_the_standard_mixins(conn):
    db = conn.collection("mixins", allow_pickle=True)
    db.update({"a": 1, "b": 2})
    assert db.setdefault("a", 5) == 1
    assert db.setdefault("c", 3) == 3
    assert db.pop("b") == 2
    assert db.pop("b", "gone") == "gone"
    assert dict(db.items()) == {"a": 1, "c": 3}
    assert sorted(db.values()) == [1, 3]
    assert db == {"a": 1, "c": 3}
    db.clear()
    assert len(db) == 0


def test_a_missing_key_raises_key_error(conn):
    db = conn.collection("missing")
    with pytest.raises(KeyError) as caught:
        db["nope"]
    assert isinstance(caught.value, s3kv.NotFoundError)
    assert isinstance(caught.value, s3kv.Error)
    assert caught.value.key == "nope" and caught.value.collection == "missing"
    with pytest.raises(s3kv.NotFoundError):
        del db["nope"]


def test_two_connections_see_each_others_writes(conn_kwargs):
    if conn_kwargs["mode"] == "dict":
        # Each mode dict connection has a memory of its own unless both share a data= mapping.
        conn_kwargs = {**conn_kwargs, "data": {}}
    first = s3kv.connect(**conn_kwargs).collection("shared", password="pw")
    second = s3kv.connect(**conn_kwargs).collection("shared", password="pw")
    first["k"] = [1, 2, 3]
    assert second["k"] == [1, 2, 3]


def test_keys_with_odd_characters_round_trip(conn):
    db = conn.collection("odd")
    keys = ["a/b", "a//b", "/lead", "trail/", "..", "+%?=# &", "ünï 🎈"]
    for key in keys:
        db[key] = key
    assert sorted(db) == sorted(keys)
    for key in keys:
        assert db[key] == key


def test_the_password_can_be_the_second_positional_argument(conn):
    db = conn.collection("positional", "secret")
    db["k"] = 1
    assert db.encrypted
    with pytest.raises(s3kv.WrongPasswordError):
        conn.collection("positional", "other")


def test_mode_dict_keeps_stored_objects_in_the_callers_mapping():
    data = {}
    db = s3kv.connect(mode="dict", data=data).collection("examples", password="pw")
    db["key1"] = "🎈"
    # The original library's layout: data[<hex collection>][<hex key>] = stored bytes.
    stored = data["6578616d706c6573"]["6b657931"]
    assert isinstance(stored, bytes) and "🎈".encode() not in stored
    assert "manifest.s3kv" in data["6578616d706c6573"]
    again = s3kv.connect(mode="dict", data=data).collection("examples", password="pw")
    assert again["key1"] == "🎈"
    assert list(again) == ["key1"]
    del again["key1"]
    assert "6b657931" not in data["6578616d706c6573"]
    with pytest.raises(s3kv.WrongPasswordError):
        s3kv.connect(mode="dict", data=data).collection("examples", password="other")


def test_delete_many_checks_every_key_before_deleting_any(conn):
    db = conn.collection("bulk")
    db.set_many({f"a{i}": str(i) for i in range(150)})
    with pytest.raises(s3kv.InvalidKeyError):
        db.delete_many([f"a{i}" for i in range(150)] + [""])
    with pytest.raises(s3kv.InvalidKeyError):
        db.delete_many([f"a{i}" for i in range(150)] + ["x" * (db.max_key_bytes + 1)])
    assert len(db) == 150
    with pytest.raises(TypeError, match=r"delete_many\(\[key\]\)"):
        db.delete_many("a1")
    assert db.delete_many([f"a{i}" for i in range(150)] + ["a1", "never"]) == 150
    assert len(db) == 0


def test_pop_with_a_cache_returns_what_it_deletes(conn_kwargs):
    mine = s3kv.connect(**conn_kwargs, ttl="1h").collection("popped")
    if conn_kwargs["mode"] == "dict":
        pytest.skip("a dict connection has no second client of the same data")
    theirs = s3kv.connect(**conn_kwargs).collection("popped")
    mine["k"] = "A"
    theirs["k"] = "B"
    assert mine.pop("k") == "B"
    assert "k" not in theirs


def test_small_values_in_memory_take_little_memory():
    import resource

    db = s3kv.connect(mode="dict").collection("small")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db.set_many({f"k{i}": b"x" * 10 for i in range(300)})
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # Each value once kept a whole chunk (1 MiB) of the encoder's buffer: 300 MiB here.
    assert grown_kib < 64 * 1024, grown_kib


def test_modify_is_safe_between_threads_and_processes(conn_kwargs):
    import subprocess
    import sys
    import textwrap
    import threading

    db = s3kv.connect(**conn_kwargs).collection("counters", password="pw")
    assert db.modify("hits", lambda count: count + 1, default=0) == 1

    def bump(times):
        mine = s3kv.connect(**conn_kwargs).collection("counters", password="pw")
        for _ in range(times):
            mine.modify("hits", lambda count: count + 1)

    if conn_kwargs["mode"] == "dict":
        workers = [threading.Thread(target=lambda: db_bump(db, 20)) for _ in range(3)]
    else:
        script = textwrap.dedent(
            """
            import json, sys
            import s3kv
            db = s3kv.connect(**json.loads(sys.argv[1])).collection("counters", password="pw")
            for _ in range(20):
                db.modify("hits", lambda count: count + 1)
            """
        )
        import json

        workers = [
            threading.Thread(
                target=subprocess.run,
                args=([sys.executable, "-c", script, json.dumps(conn_kwargs)],),
                kwargs={"check": True, "timeout": 300},
            )
            for _ in range(2)
        ] + [threading.Thread(target=bump, args=(20,))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert db["hits"] == 61, "every increment of every writer counts"

    def refuse(count):
        raise RuntimeError("no, thank you")

    with pytest.raises(RuntimeError, match="no, thank you"):
        db.modify("hits", refuse)
    assert db["hits"] == 61


def db_bump(db, times):
    for _ in range(times):
        db.modify("hits", lambda count: count + 1)
