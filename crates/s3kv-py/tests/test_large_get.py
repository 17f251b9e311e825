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


# How much of a large text the binding decodes at a time (s3kv's READ_WINDOW).
TEXT_WINDOW = 4 * 1024 * 1024


def letters(size):
    """ASCII text that compresses little, so that it is stored large enough to stream."""
    table = bytes.maketrans(bytes(range(256)), bytes(97 + byte % 26 for byte in range(256)))
    return os.urandom(size).translate(table).decode()


def test_a_large_text_built_in_pieces_reads_back_equal(conn_kwargs):
    # A stored object over 1 MiB streams, so the text is built as a str piece by piece.
    conn = s3kv.connect(**conn_kwargs, ttl="1h", cache_max_value="1MiB")
    db = conn.collection("large", password="pw")
    # Each window ends inside a character, and each piece needs wider characters than the
    # text before it: ASCII, then Latin-1, then two-byte and four-byte code points.
    text = (
        letters(TEXT_WINDOW - 1) + "é" + letters(TEXT_WINDOW - 2) + "€"
        + letters(TEXT_WINDOW - 3) + "😀" + letters(1000)
    )
    db["text"] = text
    read = db["text"]
    assert type(read) is str
    assert read == text
    assert db.get("text", revalidate=True) == text


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
