"""The MutableMapping extras and the batch, prefix, conditional and info calls, in every mode."""

import datetime

import numpy as np
import pytest

import s3kv


class CountingCore:
    """Wraps a collection's native half and counts the calls made to it."""

    def __init__(self, core):
        self._core = core
        self.calls = {}

    def __getattr__(self, name):
        attribute = getattr(self._core, name)
        if not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return attribute(*args, **kwargs)

        return counted


def test_items_and_values_are_read_in_batches(conn):
    db = conn.collection("batches", password="pw")
    expected = {f"k{i:03}": i for i in range(150)}
    db.update(expected)
    counting = CountingCore(db._core)
    db._core = counting
    assert dict(db.items()) == expected
    assert counting.calls.get("get", 0) == 0, "no value is read one request at a time"
    assert counting.calls["get_many"] == 3, "150 values are three batches of at most 64"
    assert sorted(db.values()) == list(range(150))
    assert ("k007", 7) in db.items() and 7 in db.values()
    assert len(db.items()) == 150


def test_mapping_methods_keep_dict_semantics(conn):
    db = conn.collection("semantics", allow_pickle=True)
    db.update({"a": 1}, b=2)
    db.update([("c", 3)])
    assert db == {"a": 1, "b": 2, "c": 3}
    assert db != {"a": 1}
    assert db.pop("a") == 1
    assert db.pop("a", None) is None
    with pytest.raises(KeyError):
        db.pop("a")
    key, value = db.popitem()
    assert (key, value) in {("b", 2), ("c", 3)} and key not in db
    db.popitem()
    with pytest.raises(KeyError):
        db.popitem()
    assert db.setdefault("s", [1]) == [1]
    assert db.setdefault("s", [2]) == [1]
    db.clear()
    assert len(db) == 0 and list(db) == []


def test_batch_calls(conn):
    db = conn.collection("many", password="pw")
    db.set_many({f"k{i}": {"i": i} for i in range(100)})
    db.set_many([("pair", b"x")])
    assert len(db) == 101
    found = db.get_many(["k5", "missing", "k99", "pair"])
    assert found == {"k5": {"i": 5}, "k99": {"i": 99}, "pair": b"x"}
    assert db.delete_many([f"k{i}" for i in range(100)] + ["missing"]) == 100
    assert db.keys() == ["pair"]
    with pytest.raises(s3kv.InvalidKeyError):
        db.get_many([1])


def test_keys_with_a_prefix(conn):
    db = conn.collection("prefixes")
    for key in ["img/a.png", "img/b.png", "imgs", "doc/x"]:
        db[key] = b""
    assert db.keys(prefix="img/") == ["img/a.png", "img/b.png"]
    assert db.keys("img") == ["img/a.png", "img/b.png", "imgs"]
    assert db.keys(prefix="zzz") == []
    assert db.keys() == ["doc/x", "img/a.png", "img/b.png", "imgs"]


def test_set_if_absent_writes_only_once(conn):
    db = conn.collection("once", password="pw")
    try:
        assert db.set_if_absent("k", "first") is True
    except s3kv.UnsupportedError as error:
        assert "conditional writes" in str(error)
        return
    assert db.set_if_absent("k", "second") is False
    assert db["k"] == "first"


def test_info_describes_the_stored_value(conn):
    db = conn.collection("info")
    db["text"] = "abc" * 100_000
    info = db.info("text")
    assert isinstance(info, s3kv.ValueInfo)
    assert (info.kind, info.plain_size, info.compression) == ("text", 300_000, "zstd")
    assert info.stored_size < 300_000
    assert not info.encrypted and not info.legacy
    if info.last_modified is not None:
        age = datetime.datetime.now(datetime.timezone.utc) - info.last_modified
        assert abs(age.total_seconds()) < 3600
    db["obj"] = {"a": 1}
    assert db.info("obj").kind == "pickle"
    secret = conn.collection("info secret", password="pw")
    secret["b"] = b"12345"
    assert (secret.info("b").kind, secret.info("b").encrypted) == ("bytes", True)
    with pytest.raises(KeyError):
        db.info("missing")


@pytest.mark.parametrize("serializer", ["json", "cbor"])
def test_plain_data_serializers_round_trip(conn, serializer):
    db = conn.collection(f"plain {serializer}", serializer=serializer)
    value = {"name": "Boaty", "launched": 2017, "tags": ["a", "b"], "ok": True, "none": None,
             "pi": 3.25, "big": 2**63}
    db["v"] = value
    assert db["v"] == value
    db["s"] = "text"
    assert db["s"] == "text"
    db["b"] = b"\x00raw"
    assert db["b"] == b"\x00raw"
    with pytest.raises(s3kv.UnsupportedError):
        db["bad"] = {1, 2}
    assert "bad" not in db
    assert db.info("v").kind == ("text" if serializer == "json" else "cbor")


def test_cbor_values_are_read_by_any_collection(conn):
    conn.collection("cbor", serializer="cbor")["v"] = {"k": [1, b"\x01", 2.5], "n": -(2**64)}
    assert conn.collection("cbor")["v"] == {"k": [1, b"\x01", 2.5], "n": -(2**64)}


def test_cbor_refuses_values_that_refer_to_themselves(conn):
    db = conn.collection("cbor loop", serializer="cbor")
    loop = []
    loop.append(loop)
    with pytest.raises(s3kv.UnsupportedError, match="nests deeper"):
        db["loop"] = loop


def test_an_unknown_serializer_is_named():
    conn = s3kv.connect(mode="dict")
    with pytest.raises(s3kv.ConfigError, match="'pickle', 'json', 'cbor'"):
        conn.collection("c", serializer="yaml")


def test_large_arrays_round_trip_writable_and_small_ones_too(conn):
    db = conn.collection("arrays", password="pw")
    big = np.arange(1_000_000, dtype=np.float64).reshape(1000, 1000)
    small = np.arange(10)
    db["both"] = {"big": big, "small": small, "view": big[::2, 1]}
    back = db["both"]
    assert np.array_equal(back["big"], big) and np.array_equal(back["small"], small)
    assert np.array_equal(back["view"], big[::2, 1])
    assert back["big"].flags.writeable
    back["big"][0, 0] = -1.0
    assert db["both"]["big"][0, 0] == 0.0
    assert db.info("both").plain_size >= big.nbytes


def test_unencrypted_pickles_on_s3_need_allow_pickle(conn_kwargs):
    conn = s3kv.connect(**conn_kwargs)
    conn.collection("pickles")["obj"] = {"a": 1}
    conn.collection("pickles")["text"] = "fine"
    db = conn.collection("pickles")
    assert db["text"] == "fine"
    if conn_kwargs["mode"] == "s3":
        with pytest.raises(s3kv.UnsupportedError, match="allow_pickle=True") as caught:
            db["obj"]
        assert caught.value.key == "obj"
        with pytest.raises(s3kv.UnsupportedError):
            dict(db.items())
    else:
        assert db["obj"] == {"a": 1}
    assert conn.collection("pickles", allow_pickle=True)["obj"] == {"a": 1}
    conn.collection("signed", password="pw")["obj"] = {"b": 2}
    assert conn.collection("signed", password="pw")["obj"] == {"b": 2}


def test_files_round_trip_with_progress(conn, tmp_path):
    db = conn.collection("files", password="pw")
    source = tmp_path / "in.bin"
    payload = bytes(range(256)) * 12_000
    source.write_bytes(payload)
    seen = []
    assert db.put_file("f", source, progress=lambda done, total: seen.append((done, total))) == len(
        payload
    )
    assert seen[-1] == (len(payload), len(payload))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert db["f"] == payload

    target = tmp_path / "out.bin"
    seen.clear()
    db.get_file("f", str(target), progress=lambda done, total: seen.append((done, total)))
    assert target.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload)) and len(seen) > 2

    with open(source, "rb") as reader:
        db.put_file("g", reader, progress=True)
    with open(tmp_path / "g.bin", "wb") as writer:
        db.get_file("g", writer)
    assert (tmp_path / "g.bin").read_bytes() == payload
    db["obj"] = {"not": "a file"}
    with pytest.raises(s3kv.UnsupportedError, match="pickle"):
        db.get_file("obj", tmp_path / "obj")
    with pytest.raises(KeyError):
        db.get_file("missing", tmp_path / "missing")
    with pytest.raises(s3kv.ConfigError, match="progress"):
        db.put_file("h", source, progress="yes")
