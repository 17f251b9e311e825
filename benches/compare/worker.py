"""One measurement job in a process of its own, so its peak memory is its client's alone.

Run by ``compare.py`` as ``python worker.py '<job as JSON>'``; prints one JSON line with the
figures. Every job checks that what it read back is what was written, and says so in the
result (``verified``), so a client that reads the wrong bytes fast cannot look good.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import clients

MIB = 1024 * 1024

# Generated text: a 4 MiB block of random words, repeated. Each 1 MiB chunk of s3kv, and
# zlib's 32 KiB window, see only word-level redundancy, as in real prose or logs.
TEXT_BLOCK = 4 * MIB


def make_value(kind: str, size: int) -> Any:
    """``size`` bytes of incompressible data, or ``size`` characters of compressible text."""
    if kind == "random":
        return os.urandom(size)
    rng = random.Random(5)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    vocabulary = [
        "".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(3000)
    ]
    words: List[str] = []
    length = 0
    while length < min(size, TEXT_BLOCK):
        word = rng.choice(vocabulary)
        if rng.random() < 0.07:
            word += rng.choice([",", ".", ".\n"])
        words.append(word)
        length += len(word) + 1
    block = " ".join(words)
    return (block * (size // len(block) + 1))[:size]


def digest(value: Any) -> str:
    """SHA-256 of a value's bytes (text as UTF-8)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return hashlib.sha256(value).hexdigest()


class Memory:
    """Peak resident memory of this process around one operation, from ``/proc/self/status``.

    Writing 5 to ``/proc/self/clear_refs`` resets the peak (VmHWM) to the current size, so
    each operation's peak is its own, not that of whatever ran before it in the process.
    """

    def __init__(self) -> None:
        self.resettable = True

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def start(self) -> int:
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")
        except OSError:
            self.resettable = False
        return self._status("VmRSS")

    def peak(self) -> int:
        return self._status("VmHWM")


def timed_big(job: Dict[str, Any], client: clients.Client) -> Dict[str, Any]:
    """Puts or gets one large value ``repeat`` times; time and peak memory of each."""
    size, kind, key = job["size"], job["value"], job["key"]
    memory = Memory()
    runs = []
    if job["op"] == "put":
        value = make_value(kind, size)
        expected = digest(value)
        for _ in range(job["repeat"]):
            baseline = memory.start()
            started = time.perf_counter()
            client.put(key, value)
            took = time.perf_counter() - started
            runs.append({"seconds": took, "baseline": baseline, "peak": memory.peak()})
        return {"runs": runs, "digest": expected, "verified": True}

    verified = True
    for _ in range(job["repeat"]):
        baseline = memory.start()
        started = time.perf_counter()
        value = client.get(key)
        took = time.perf_counter() - started
        peak = memory.peak()
        # Checked after the peak is read: hashing text encodes it, which is not the get's cost.
        verified = verified and value is not None and digest(value) == job["digest"]
        runs.append({"seconds": took, "baseline": baseline, "peak": peak})
        del value
    return {"runs": runs, "verified": verified}


def percentile(values: List[float], share: float) -> float:
    """The ``share`` quantile, interpolated between the two nearest samples."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def each_timed(operation: Callable[[int], Any], count: int) -> Tuple[List[float], List[Any]]:
    times, results = [], []
    for index in range(count):
        started = time.perf_counter()
        results.append(operation(index))
        times.append(time.perf_counter() - started)
    return times, results


def small(job: Dict[str, Any], client: clients.Client) -> Dict[str, Any]:
    """1 KB latency (each call timed), then a batch of values one by one and batched."""
    size, count, batch = job["small_size"], job["latency_ops"], job["batch"]
    result: Dict[str, Any] = {}

    # Warm-up: connections opened, code paths loaded; not measured.
    for index in range(5):
        client.put(f"warm-{index}", os.urandom(size))
        client.get(f"warm-{index}")

    values = [os.urandom(size) for _ in range(count)]
    put_times, _ = each_timed(lambda index: client.put(f"lat-{index}", values[index]), count)
    get_times, got = each_timed(lambda index: client.get(f"lat-{index}"), count)
    verified = all(bytes(read) == values[index] for index, read in enumerate(got))
    for name, times in (("put", put_times), ("get", get_times)):
        result[f"latency_{name}_p50"] = percentile(times, 0.5)
        result[f"latency_{name}_p90"] = percentile(times, 0.9)

    items = {f"seq-{index:05d}": os.urandom(size) for index in range(batch)}
    keys = list(items)
    started = time.perf_counter()
    for key, value in items.items():
        client.put(key, value)
    result["seq_put"] = time.perf_counter() - started
    started = time.perf_counter()
    read = {key: client.get(key) for key in keys}
    result["seq_get"] = time.perf_counter() - started
    verified = verified and all(bytes(read[key]) == items[key] for key in keys)

    if client.batched:
        items = {f"bat-{index:05d}": os.urandom(size) for index in range(batch)}
        keys = list(items)
        started = time.perf_counter()
        client.put_many(items)
        result["batch_put"] = time.perf_counter() - started
        started = time.perf_counter()
        read = client.get_many(keys)
        result["batch_get"] = time.perf_counter() - started
        verified = verified and len(read) == batch
        verified = verified and all(bytes(read[key]) == items[key] for key in keys)

    result["verified"] = verified
    return result


def listing(job: Dict[str, Any], client: clients.Client) -> Dict[str, Any]:
    """Lists the seeded keys once untimed, then ``list_runs`` times timed (the median counts),
    and checks every one came back each time."""
    keys = clients.list_keys(job["list_keys"])
    expected = set(keys)
    if job["client"] == "s3kv" and job.get("seed", True):
        # s3kv keeps its own layout, so its collection is seeded through its own batch call.
        client.put_many({key: b"x" for key in keys})
    client.keys()
    times, names = [], set()
    for _ in range(job.get("list_runs", 1)):
        started = time.perf_counter()
        listed = client.keys()
        times.append(time.perf_counter() - started)
        names = set(clients.names_listed(job["client"], listed))
        if names != expected:
            break
    result: Dict[str, Any] = {
        "list": statistics.median(times),
        "list_runs": times,
        "listed": len(listed),
        "verified": names == expected,
    }
    if names != expected:
        result["note"] = f"listed {len(names)} of {len(expected)} keys"
        # The original makes one list call: one page of at most 1000 names, by design.
        result["limited"] = job["client"] == "legacy" and len(listed) == 1000
    return result


def run(job: Dict[str, Any]) -> Dict[str, Any]:
    backend = clients.Backend(job["backend"], job["settings"])
    client = clients.open_client(job["client"], backend, job["prefix"])
    case = job["case"]
    if case == "big":
        return timed_big(job, client)
    if case == "small":
        return small(job, client)
    if case == "list":
        return listing(job, client)
    raise ValueError(f"unknown case {case!r}: big, small or list")


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(argv[0])
    result = run(job)
    print(json.dumps(result), flush=True)
    if job["client"] == "obstore":
        # obstore's native runtime can abort the interpreter while it shuts down (seen on a
        # loaded machine), after the job is done and its result written; end here instead.
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
