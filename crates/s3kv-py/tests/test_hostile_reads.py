"""Stored values that lie or are malformed: each read fails with an error that names the key,
and a header that states a huge length does not make the reader allocate it."""

import os
import resource

import pytest

import s3kv
from s3kv import _values


def _local(tmp_path):
    return s3kv.connect(mode="local", path=str(tmp_path / "store"))


def _value_file(tmp_path, collection, key):
    return tmp_path / "store" / collection.encode().hex() / key.encode().hex()


def test_cbor_with_bytes_after_its_item_is_corrupt(tmp_path):
    with pytest.raises(s3kv.CorruptValueError, match="after its one item"):
        s3kv._s3kv.cbor_loads(b"\x0f" + b"junk")
    db = _local(tmp_path).collection("c", serializer="cbor")
    db._core.set("k", _values.CBOR, b"\x0f" + os.urandom(64))
    with pytest.raises(s3kv.CorruptValueError) as raised:
        db["k"]
    assert (raised.value.key, raised.value.operation, raised.value.kind) == ("k", "get", "corrupt")


def test_a_malformed_pickle_names_the_key(tmp_path):
    db = _local(tmp_path).collection("c")
    db._core.set("k", _values.PICKLE, b"not a pickle at all")
    with pytest.raises(s3kv.CorruptValueError) as raised:
        db.get("k")
    assert (raised.value.key, raised.value.collection, raised.value.kind) == ("k", "c", "corrupt")


@pytest.mark.parametrize("password", [None, "pw"])
def test_a_header_claiming_a_huge_length_is_corrupt_without_taking_that_memory(
    tmp_path, password
):
    db = _local(tmp_path).collection("c", password=password)
    size = 9 * 1024 * 1024
    db["k"] = os.urandom(size)
    path = _value_file(tmp_path, "c", "k")
    stored = bytearray(path.read_bytes())
    # The plaintext length, at bytes 16..24 of the header: 200 times the value (1.9 GB).
    stored[16:24] = (size * 200).to_bytes(8, "little")
    path.write_bytes(bytes(stored))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(s3kv.CorruptValueError) as raised:
        db["k"]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert raised.value.key == "k"
    # The reader may hold the stored object and a window, not the claim.
    assert grown_kib < 512 * 1024, f"peak grew by {grown_kib} KiB"
