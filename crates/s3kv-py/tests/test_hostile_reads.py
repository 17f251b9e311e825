"""Stored values that lie or are malformed: each read fails with an error that names the key,
and a header that states a huge length does not make the reader allocate it."""

import io
import json
import os
import resource
import subprocess
import sys
import textwrap
import zlib

import pytest

import s3kv
from conftest import s3_client, s3_kwargs_or_skip
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


def _legacy_bomb():
    """An object in the original library's format, zlib of 1 GiB of zeros: about 1 MiB stored.
    Made piece by piece, so that making it does not raise this process's peak."""
    compressor = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    return b"".join([compressor.compress(zeros) for _ in range(1024)] + [compressor.flush()])


@pytest.fixture
def s3_planting():
    """Connection kwargs for the test server, and a function that stores raw bytes as the
    value of a key of collection ``c`` there."""
    kwargs = s3_kwargs_or_skip()
    client = s3_client(kwargs)

    def plant(key, stored):
        name = f"{kwargs['prefix']}/{'c'.encode().hex()}/{key.encode().hex()}"
        client.put_object(Bucket=kwargs["bucket"], Key=name, Body=stored)

    return kwargs, plant


def test_a_planted_legacy_bomb_is_refused_before_it_is_inflated(tmp_path, s3_planting):
    kwargs, plant = s3_planting
    bomb = _legacy_bomb()
    plant("k", bomb)
    # Every value of the original library is a pickle, which an unencrypted collection on S3
    # refuses without allow_pickle; on a folder, get_file refuses pickles everywhere.
    db = s3kv.connect(**kwargs).collection("c")
    local = _local(tmp_path).collection("c")
    _value_file(tmp_path, "c", "k").parent.mkdir(parents=True)
    _value_file(tmp_path, "c", "k").write_bytes(bomb)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(s3kv.UnsupportedError, match="allow_pickle=True") as raised:
        db["k"]
    with pytest.raises(s3kv.UnsupportedError, match="allow_pickle=True"):
        db.get_many(["k"])
    with pytest.raises(s3kv.UnsupportedError, match="not a file's bytes"):
        local.get_file("k", io.BytesIO())
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before

    assert (raised.value.key, raised.value.operation) == ("k", "get")
    assert grown_kib < 256 * 1024, f"peak grew by {grown_kib} KiB for {len(bomb)} bytes stored"


def test_damage_that_hides_the_s3kv_header_is_corrupt_not_a_refused_pickle(s3_planting):
    kwargs, plant = s3_planting
    # Neither the s3kv magic, nor zlib, nor whole AES blocks.
    plant("k", b"\x00" * 37)
    plant("z", zlib.compress(b"a" * 1000)[:-5])
    db = s3kv.connect(**kwargs).collection("c")
    for key in ("k", "z"):
        with pytest.raises(s3kv.CorruptValueError):
            db[key]


def test_a_value_this_process_has_no_memory_for_is_a_memory_error_not_corrupt(tmp_path):
    db = _local(tmp_path).collection("c", password="pw")
    db["small"] = b"x"
    # 300 MiB of zeros are stored in a few kilobytes: only decoding them takes the memory.
    db["zeros"] = bytes(300 << 20)
    child = textwrap.dedent(
        """
        import resource, sys, s3kv
        db = s3kv.connect(mode="local", path=sys.argv[1]).collection("c", password="pw")
        db["small"]  # everything a read needs is made before the limit
        status = open("/proc/self/status").read().split("VmSize:")[1]
        mapped = int(status.split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mapped + (150 << 20), resource.RLIM_INFINITY))
        try:
            db["zeros"]
        except BaseException as error:
            print(type(error).__name__, isinstance(error, MemoryError), isinstance(error, s3kv.Error))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["OutOfMemoryError", "True", "True"], run.stdout + run.stderr


def test_a_planted_pickle_is_refused_from_its_header_before_it_is_decoded(s3_planting):
    kwargs, _plant = s3_planting
    # 300 MiB of zeros stored as an unencrypted pickle, a few hundred KB on the server. A child
    # process writes it, so that making it does not raise this process's peak.
    script = (
        "import json, sys, s3kv\n"
        "db = s3kv.connect(**json.loads(sys.argv[1])).collection('c')\n"
        f"db._core.set('big', {_values.PICKLE}, bytes(300 << 20))\n"
        f"db._core.set('small', {_values.PICKLE}, bytes(1000))\n"
    )
    subprocess.run([sys.executable, "-c", script, json.dumps(kwargs)], check=True, timeout=300)
    db = s3kv.connect(**kwargs).collection("c")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for key in ("big", "small"):
        with pytest.raises(s3kv.UnsupportedError, match="allow_pickle=True") as raised:
            db[key]
        assert (raised.value.key, raised.value.operation) == (key, "get")
    with pytest.raises(s3kv.UnsupportedError, match="allow_pickle=True"):
        db.get_many(["big"])
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, f"peak grew by {grown_kib} KiB"
    # Refused, not damaged: the owner can still read it.
    trusting = s3kv.connect(**kwargs).collection("c", allow_pickle=True)
    assert trusting._core.get("small")[1] == bytes(1000)
