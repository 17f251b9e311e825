"""Ctrl-C reaches Python while a call waits on a server that does not answer: the call is
cancelled and the signal handler's exception comes out at once, not when the request would
have timed out.

A proxy on 127.0.0.1 passes requests to the test S3 server and, once told to stall, holds
every answer back, as a server that hangs does.
"""

import io
import os
import signal
import socket
import threading
import time
import urllib.parse

import pytest

import s3kv
from conftest import s3_kwargs_or_skip

# The longest any request may wait here; the signal comes long before.
TIMEOUT_S = 30
SIGNAL_AFTER_S = 0.5


class StallingProxy:
    """Forwards connections to ``upstream``; while ``stalled`` is set, answers go nowhere."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.stalled = threading.Event()
        self.closing = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.sockets = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.listener.getsockname()[1]

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=TIMEOUT_S)
            self.sockets += [client, server]
            for source, target, answers in ((client, server, False), (server, client, True)):
                thread = threading.Thread(
                    target=self._pump, args=(source, target, answers), daemon=True
                )
                thread.start()
                self.threads.append(thread)

    def _pump(self, source, target, answers):
        source.settimeout(0.2)
        deadline = time.monotonic() + 4 * TIMEOUT_S
        while not self.closing.is_set() and time.monotonic() < deadline:
            try:
                data = source.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            if answers and self.stalled.is_set():
                continue  # the answer is swallowed; the client waits for it
            try:
                target.sendall(data)
            except OSError:
                return

    def close(self):
        self.closing.set()
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self.threads:
            thread.join(timeout=5)


class Interrupted(Exception):
    """What the test's SIGINT handler raises, standing in for KeyboardInterrupt."""


def interrupted_after(call):
    """Runs ``call`` while a SIGINT arrives after ``SIGNAL_AFTER_S``; the exception it raised
    and how long after the signal it came out."""

    def handler(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGINT, handler)
    sent = []

    def send():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(SIGNAL_AFTER_S, send)
    timer.start()
    try:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - the test reports what came out
            raised = error
        else:
            raised = None
        return raised, time.monotonic() - (sent[0] if sent else time.monotonic())
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def stalling():
    kwargs = s3_kwargs_or_skip()
    upstream = urllib.parse.urlsplit(kwargs["endpoint"])
    proxy = StallingProxy((upstream.hostname, upstream.port))
    kwargs.update(endpoint=proxy.endpoint, timeout=TIMEOUT_S, retries=0)
    try:
        yield proxy, s3kv.connect(**kwargs)
    finally:
        proxy.close()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
@pytest.mark.parametrize(
    "operation", ["get", "set", "set_large", "keys", "put_file", "get_file"]
)
def test_ctrl_c_cancels_a_call_that_waits_on_a_hung_server(stalling, operation):
    proxy, conn = stalling
    db = conn.collection("interrupt", "pw")
    db["k"] = b"before"
    large = os.urandom(20 * 1024 * 1024)
    calls = {
        "get": lambda: db["k"],
        "set": lambda: db.__setitem__("k", b"after"),
        "set_large": lambda: db.__setitem__("k", large),
        "keys": lambda: db.keys(),
        # Files stream on a worker thread, which the signal does not reach: the waiting
        # thread cancels it.
        "put_file": lambda: db.put_file("k", io.BytesIO(large)),
        "get_file": lambda: db.get_file("k", io.BytesIO()),
    }
    proxy.stalled.set()

    raised, after_signal = interrupted_after(calls[operation])

    assert isinstance(raised, Interrupted), f"{operation}: {raised!r}"
    assert after_signal < TIMEOUT_S / 3, f"{operation} came out {after_signal:.1f} s after"
