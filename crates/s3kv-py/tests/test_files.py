"""Files stream through in chunks: memory stays bounded whatever their size, a failing file
stores nothing, and a path is replaced whole or not at all."""

import io
import json
import os
import select
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import s3kv


class Exploding(io.RawIOBase):
    """A readable file that raises its own error after ``good`` bytes."""

    def __init__(self, good):
        self.left = good

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise OSError(5, "the disk went away")
        count = min(len(buffer), self.left)
        buffer[:count] = b"z" * count
        self.left -= count
        return count


def test_a_failing_reader_stores_nothing_and_raises_its_own_error(conn):
    db = conn.collection("files", password="pw")
    db.put_file("f", io.BytesIO(b"old value"))
    with pytest.raises(OSError, match="the disk went away"):
        db.put_file("f", io.BufferedReader(Exploding(3 * 1024 * 1024 + 17)))
    assert db["f"] == b"old value"
    with pytest.raises(OSError, match="the disk went away"):
        db.put_file("new", io.BufferedReader(Exploding(10)))
    assert "new" not in db


def test_a_text_mode_file_is_refused_with_the_fix(conn, tmp_path):
    db = conn.collection("files")
    source = tmp_path / "notes.txt"
    source.write_text("hello")
    with open(source, "r", encoding="utf-8") as text_file:
        with pytest.raises(TypeError, match="binary mode"):
            db.put_file("notes", text_file)
    assert "notes" not in db
    # Bytes that do not decode as text are refused the same way, before anything is read.
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(128, 256)) * 64)
    with open(noise, "r", encoding="utf-8") as text_file:
        with pytest.raises(TypeError, match=r"text mode.*binary mode \('rb'\)"):
            db.put_file("noise", text_file)
        assert text_file.tell() == 0
    assert "noise" not in db
    db["value"] = b"some bytes"
    target = tmp_path / "out.txt"
    with open(target, "w", encoding="utf-8") as text_file:
        with pytest.raises(TypeError, match=r"binary mode \('wb'\)"):
            db.get_file("value", text_file)
        with pytest.raises(TypeError, match="binary mode"):
            db.get_file("value", io.StringIO())


def test_get_file_to_a_path_is_all_or_nothing(conn, tmp_path):
    db = conn.collection("files", password="pw")
    target = tmp_path / "out.bin"
    target.write_bytes(b"precious")
    with pytest.raises(KeyError):
        db.get_file("missing", target)
    assert target.read_bytes() == b"precious"
    db["obj"] = {"not": "bytes"}
    with pytest.raises(s3kv.UnsupportedError) as raised:
        db.get_file("obj", target)
    assert "read it with collection[key]" in str(raised.value)
    assert (raised.value.operation, raised.value.key) == ("get_file", "obj")
    assert target.read_bytes() == b"precious"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".s3kv-partial")]
    payload = os.urandom(2_500_000)
    db.put_file("f", io.BytesIO(payload))
    assert db.get_file("f", target) == len(payload)
    assert target.read_bytes() == payload
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".s3kv-partial")]


def test_a_file_in_a_missing_folder_is_named_in_the_error(conn, tmp_path):
    db = conn.collection("files")
    db["f"] = b"data"
    target = tmp_path / "no-such-folder" / "out.bin"
    with pytest.raises(FileNotFoundError) as raised:
        db.get_file("f", target)
    assert str(target) in str(raised.value) and "does not exist" in str(raised.value)
    assert "s3kv-partial" not in str(raised.value)


def test_text_values_stream_out_as_utf8(conn):
    db = conn.collection("files")
    db["t"] = "héllo wörld"
    out = io.BytesIO()
    assert db.get_file("t", out) == len("héllo wörld".encode())
    assert out.getvalue() == "héllo wörld".encode()


_MEASURE = textwrap.dedent(
    """
    import json, os, resource, sys
    import s3kv

    kwargs = json.loads(sys.argv[1])
    size = int(sys.argv[2])
    source, target = sys.argv[3], sys.argv[4]
    db = s3kv.connect(**kwargs).collection("big", password="pw")
    db["warm"] = b"x" * 1000
    del db["warm"]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stored = db.put_file("v", source)
    after_put = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written = db.get_file("v", target)
    after_get = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"stored": stored, "written": written,
                      "put_kib": after_put - base, "get_kib": after_get - base}))
    """
)


@pytest.mark.parametrize("mode", ["local", "s3"])
def test_big_files_stream_in_bounded_memory(mode, tmp_path):
    """A 128 MiB file goes in and out with peak memory far below its size (ru_maxrss of a
    fresh process, so nothing else the test run holds counts)."""
    from conftest import s3_kwargs

    if mode == "local":
        kwargs = {"mode": "local", "path": str(tmp_path / "data")}
    else:
        kwargs = s3_kwargs()
        if kwargs is None:
            pytest.skip("no S3 server configured")
    size = 128 * 1024 * 1024
    source, target = tmp_path / "big.in", tmp_path / "big.out"
    with open(source, "wb") as file:
        piece = os.urandom(1024 * 1024)
        for index in range(size // len(piece)):
            file.write(bytes([index % 256]) + piece[1:])
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(kwargs), str(size), str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["stored"] == size and figures["written"] == size
    with open(source, "rb") as left, open(target, "rb") as right:
        for _ in range(size // (1024 * 1024)):
            assert left.read(1024 * 1024) == right.read(1024 * 1024)
    # Whole-value code paths hold the value at least twice (256 MiB); streaming holds the
    # codec's chunks and the backend's parts in flight.
    limit_kib = 96 * 1024
    assert figures["put_kib"] < limit_kib, figures
    assert figures["get_kib"] < limit_kib, figures


def test_a_progress_callback_that_raises_cancels_and_stores_nothing(conn):
    db = conn.collection("files", password="pw")
    db["k"] = b"OLD"

    def explode(done, total):
        raise ZeroDivisionError("the callback failed")

    with pytest.raises(ZeroDivisionError):
        db.put_file("k", io.BytesIO(b"NEW" * 1_000_000), progress=explode)
    assert db["k"] == b"OLD"

    calls = []

    def explode_at_the_end(done, total):
        calls.append(done)
        if done == total == 3_000_000:
            raise RuntimeError("the last report failed")

    with pytest.raises(RuntimeError):
        db.put_file("k", io.BytesIO(b"NEW" * 1_000_000), progress=explode_at_the_end)
    assert db["k"] == b"OLD" and calls


def test_get_file_follows_symlinks_and_refuses_directories(conn, tmp_path):
    db = conn.collection("files")
    db.put_file("f", io.BytesIO(b"payload"))
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    assert db.get_file("f", link) == len(b"payload")
    assert link.is_symlink() and real.read_bytes() == b"payload"
    with pytest.raises(IsADirectoryError):
        db.get_file("f", tmp_path)
    assert not [name for name in os.listdir(tmp_path.parent) if name.endswith(".s3kv-partial")]
    assert db.get_file("f", os.fsencode(tmp_path / "bytes-path.bin")) == len(b"payload")
    assert db.put_file("g", os.fsencode(real)) == len(b"payload")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_get_file_writes_into_a_named_pipe_and_leaves_it_a_pipe(conn, tmp_path):
    # A device or a pipe at the path is written to, never replaced by a file: replacing
    # /dev/null would delete it for the whole machine.
    db = conn.collection("files")
    value = os.urandom(300_000)  # more than a pipe holds, so the reader must drain it
    db["v"] = value
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    received = bytearray()
    done = threading.Event()

    def drain():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readable, _, _ = select.select([reader], [], [], 0.1)
            if not readable:
                continue
            piece = os.read(reader, 65536)
            if not piece and done.is_set():
                return
            received.extend(piece)

    thread = threading.Thread(target=drain)
    thread.start()
    try:
        assert db.get_file("v", fifo) == len(value)
    finally:
        done.set()
        thread.join(timeout=70)
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the pipe is still a pipe"
    assert bytes(received) == value
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".s3kv-partial")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs Unix sockets")
def test_get_file_to_a_socket_path_says_what_to_give_instead(conn, tmp_path):
    import socket

    db = conn.collection("files")
    db["v"] = b"payload"
    path = tmp_path / "s.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        with pytest.raises(OSError) as raised:
            db.get_file("v", path)
    finally:
        listener.close()
    assert "is a socket" in str(raised.value) and "file object" in str(raised.value)
    assert stat.S_ISSOCK(os.stat(path).st_mode), "the socket is left alone"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".s3kv-partial")]


def test_readers_may_return_any_bytes_like_and_writers_must_count(conn):
    db = conn.collection("files")

    class Views(io.RawIOBase):
        def __init__(self):
            self.left = 3

        def read(self, size=-1):
            if not self.left:
                return b""
            self.left -= 1
            return memoryview(b"ab") if self.left % 2 else bytearray(b"cd")

    assert db.put_file("v", Views()) == 6
    assert db["v"] == b"cdabcd"

    class Chatty:
        def write(self, data):
            return "all of it"

    with pytest.raises(TypeError, match="not a count"):
        db.get_file("v", Chatty())

    class Stubborn:
        def write(self, data):
            return 0

    with pytest.raises(s3kv.FileError):
        db.get_file("v", Stubborn())


def test_a_file_that_changes_size_is_a_file_error(conn, tmp_path):
    db = conn.collection("files")

    class Liar(io.BytesIO):
        def seek(self, offset, whence=0):
            # Claims a 10-byte file, then gives 20 bytes.
            return 10 if whence == io.SEEK_END else super().seek(offset, whence)

    with pytest.raises(s3kv.FileError, match="stated"):
        db.put_file("liar", Liar(b"x" * 20))
    assert "liar" not in db


def test_a_damaged_header_reads_as_damage_not_as_a_pickle(tmp_path):
    data = tmp_path / "data"
    db = s3kv.connect(mode="local", path=str(data)).collection("c", password="pw")
    db.put_file("a", io.BytesIO(b"z" * 5000))
    stored = data / "63" / "61"
    damaged = bytearray(stored.read_bytes())
    damaged[5] ^= 0xFF
    stored.write_bytes(bytes(damaged))
    with pytest.raises(s3kv.CorruptValueError):
        db.get_file("a", io.BytesIO())
