"""Progress reporting for file transfers: a callable of the caller's, or a bar that suits
where the code runs (``st.progress`` inside a Streamlit script, tqdm in a terminal)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import stat
import sys
import tempfile
import threading
from typing import IO, Any, Callable, Iterator, Optional, Union

Report = Callable[[int, int], None]


def _ignore(done: int, total: int) -> None:
    pass


#: The reporter of a transfer nobody watches.
IGNORE: Report = _ignore


def _in_streamlit() -> bool:
    if "streamlit" not in sys.modules:
        return False
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return False
    return get_script_run_ctx(suppress_warning=True) is not None


def _streamlit_bar(description: str) -> Report:
    import streamlit as st

    bar = st.progress(0.0, text=description)

    def report(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=description)

    return report


def _tqdm_bar(description: str) -> Report:
    try:
        from tqdm import tqdm
    except ImportError:
        return _ignore
    bar = tqdm(total=0, unit="B", unit_scale=True, desc=description)

    def report(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report


def reporter(progress: Union[bool, Callable[[int, int], Any], None], description: str) -> Report:
    """The function to call with ``(done_bytes, total_bytes)`` as a transfer goes on."""
    if progress is None or progress is False:
        return _ignore
    if progress is True:
        return _streamlit_bar(description) if _in_streamlit() else _tqdm_bar(description)
    if not callable(progress):
        from ._errors import ConfigError

        raise ConfigError(
            f"progress must be a callable (done_bytes, total_bytes), True or None, "
            f"not {type(progress).__name__}"
        )
    return progress  # type: ignore[return-value]


@contextlib.contextmanager
def opened(path_or_fileobj: Union[str, "os.PathLike[str]", IO[bytes]], mode: str) -> Iterator[Any]:
    """The file object given, or the file at the path opened in ``mode`` and closed after."""
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        with open(path_or_fileobj, mode) as file:
            yield file
    else:
        yield binary(path_or_fileobj, "rb")


def binary(file: Any, mode: str) -> Any:
    """``file`` itself, unless it is a text file, which the bytes of a value do not go through
    (its reads would fail only once a piece does not decode, its writes at once)."""
    if isinstance(file, io.TextIOBase):
        raise TypeError(
            f"{file!r} is open in text mode; s3kv reads and writes files as bytes: open it in "
            f"binary mode ({mode!r})"
        )
    return file


def remaining(file: Any) -> Optional[int]:
    """How many bytes are left to read in ``file``, or None when it cannot tell."""
    try:
        here = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(here)
        return max(end - here, 0)
    except (AttributeError, OSError, ValueError):
        return None


class Cancelled(Exception):
    """Raised inside a transfer's file calls to stop it; the caller sees why it stopped."""


def on_this_thread(report: Report, work: Callable[[Report, Callable[[], None]], Any]) -> Any:
    """Runs ``work(progress, stop)`` on a worker thread and calls ``report`` on this one.

    Transfers stream on s3kv's own threads, but a progress callback belongs to the caller's
    thread: Streamlit elements only update from the script's thread, and a caller's callback
    should not have to be thread-safe. The work calls ``progress`` for every piece it reads
    or writes; this thread reports each update in order.

    When ``report`` raises, or this thread is interrupted (Ctrl-C), the transfer is cancelled:
    the next ``progress`` call raises :class:`Cancelled` inside it, and so does ``stop``, which
    the storage calls while it waits on the server (so a stalled server does not hold the
    cancel up); the storage abandons the upload (nothing is stored) or the download, and the
    exception is raised here once the worker has stopped.
    """
    updates: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
    cancel = threading.Event()
    outcome: dict = {}

    def stop() -> None:
        if cancel.is_set():
            raise Cancelled("the transfer was cancelled")

    def progress(done: int, total: int, final: bool = False) -> None:
        stop()
        if not final:
            updates.put((done, total, None))
            return
        # The last report before the transfer commits waits for the caller's thread, so a
        # callback that raises on it still cancels the transfer.
        seen = threading.Event()
        updates.put((done, total, seen))
        seen.wait()
        stop()

    def run() -> None:
        try:
            outcome["value"] = work(progress, stop)
        except BaseException as error:  # handed to the caller's thread as it is
            outcome["error"] = error
        finally:
            updates.put(None)

    worker = threading.Thread(target=run, name="s3kv-transfer", daemon=True)
    worker.start()
    stopped: Optional[BaseException] = None
    while True:
        try:
            update = updates.get()
        except BaseException as error:  # an interrupt (Ctrl-C) while waiting
            stopped = stopped or error
            cancel.set()
            continue
        if update is None:
            break
        done, total, seen = update
        if stopped is None and report is not IGNORE:
            try:
                report(done, total)
            except BaseException as error:  # the caller's callback, or an interrupt in it
                stopped = error
                cancel.set()
        if seen is not None:
            seen.set()
    worker.join()
    if stopped is not None:
        raise stopped
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class CountingReader:
    """A binary file's ``read``, reporting the bytes read so far (and the end, when reached)."""

    def __init__(self, file: Any, report: Report, total: int) -> None:
        self._file = file
        self._report = report
        self._total = total
        self._done = 0

    def read(self, size: int) -> bytes:
        piece = self._file.read(size)
        if isinstance(piece, (bytearray, memoryview)):
            piece = bytes(piece)
        if isinstance(piece, bytes):
            self._done += len(piece)
            if piece:
                self._report(self._done, max(self._total, self._done))
            else:
                self._report(self._done, self._done, True)  # type: ignore[call-arg]
        return piece  # type: ignore[no-any-return]


class CountingWriter:
    """A binary file's ``write``, reporting the bytes written so far."""

    def __init__(self, file: Any, report: Report, total: int) -> None:
        self._file = file
        self._report = report
        self._total = total
        self._done = 0

    def write(self, data: bytes) -> Any:
        written = self._file.write(data)
        if written is not None and (isinstance(written, bool) or not isinstance(written, int)):
            raise TypeError(
                f"the file's write() returned {type(written).__name__}, not a count of bytes: "
                "write to a binary file ('wb')"
            )
        self._done += len(data) if written is None else written
        self._report(self._done, max(self._total, self._done))
        return written

    def flush(self) -> None:
        flush = getattr(self._file, "flush", None)
        if flush is not None:
            flush()


@contextlib.contextmanager
def replacing(path_or_fileobj: Union[str, "os.PathLike[str]", IO[bytes]]) -> Iterator[Any]:
    """The file object given; or, for a path, a new temporary file beside it that replaces the
    file at the path when the block succeeds, and is removed when it fails; or, for a device or
    a named pipe, the path opened for writing."""
    if not isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        yield binary(path_or_fileobj, "wb")
        return
    # A symbolic link keeps pointing where it did: the file it names is the one replaced.
    target = os.path.realpath(os.fsdecode(path_or_fileobj))
    if os.path.isdir(target):
        raise IsADirectoryError(f"{target} is a directory: give the path of a file to write")
    try:
        existing = os.stat(target).st_mode
    except OSError:
        existing = 0
    if stat.S_ISSOCK(existing):
        raise OSError(
            errno.ENXIO,
            f"{target} is a socket, which cannot be opened as a file: give the path of a file, "
            "a device or a named pipe, or connect to the socket and pass the file object",
        )
    if os.path.exists(target) and not os.path.isfile(target):
        # A device or a named pipe (/dev/null, a FIFO another process reads) is written to, as
        # `cp` would: replacing it with a file would delete it, and a stream cannot be had
        # whole or not at all anyway.
        with open(target, "wb") as file:
            yield file
        return
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {target}: its folder {directory} does not exist", target
        )
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".s3kv-partial", dir=directory
    )
    try:
        # mkstemp makes the file private; give it the mode the file it replaces had, or the
        # usual mode of a new file.
        try:
            mode = os.stat(target).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
