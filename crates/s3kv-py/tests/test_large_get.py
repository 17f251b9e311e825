"""A large value is read into one Python object of its length: it reads back equal, as bytes,
text or a pickle, on every storage, and small values next to it are unaffected."""

import os
import pickle

import pytest

import s3kv

# Larger than what a collection without a cache reads whole (8 MiB), with a ragged end.
LARGE = 9 * 1024 * 1024 + 4321


@pytest.mark.parametrize("password", [None, "pw"])
def test_a_large_value_reads_back_equal(conn, password):
    db = conn.collection("large", password=password)
    data = os.urandom(LARGE)
    db["bytes"] = data
    db["small"] = b"tiny"
    assert db["bytes"] == data
    assert db.get("bytes") == data
    assert db["small"] == b"tiny"
    assert db.get("absent", "default") == "default"
    with pytest.raises(KeyError):
        db["absent"]


def test_a_large_pickle_payload_unpickles(conn):
    db = conn.collection("large", password="pw", allow_pickle=True)
    value = {"blob": os.urandom(LARGE), "name": "large"}
    db["pickled"] = value
    assert db["pickled"] == value
    assert len(pickle.dumps(value)) > LARGE


def test_large_text_reads_back_equal(conn):
    db = conn.collection("large", password="pw")
    words = [bytes([97 + (i * 7919) % 26]) * (1 + i % 9) for i in range(1000)]
    text = (b" ".join(words).decode() + " é 😀 ") * (LARGE // 5000 + 1)
    db["text"] = text
    assert db["text"] == text


def test_a_damaged_large_value_raises_corrupt(tmp_path):
    conn = s3kv.connect(mode="local", path=str(tmp_path / "data"))
    db = conn.collection("large", password="pw")
    db["v"] = os.urandom(LARGE)
    stored = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    target = max(stored, key=lambda path: path.stat().st_size)
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    with pytest.raises(s3kv.CorruptValueError):
        db["v"]
    target.write_bytes(bytes(raw[: len(raw) // 3]))
    with pytest.raises(s3kv.CorruptValueError):
        db.get("v")
