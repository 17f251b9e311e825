"""Side-by-side benchmark of s3kv against the original library's pipeline and three peers.

Times, in one run, on each backend (Garage or another S3 server, and a local folder): s3kv
through its Python package (encrypted with a password and compressed, as users run it); the
original library's pipeline re-implemented in ``legacy.py``; plain boto3; obstore; and the
AWS S3 Encryption Client with KMS from a moto server. Each client's figures come from
processes of its own (``worker.py``), so peak memory is per client.

Usage (``cargo xtask bench`` starts the servers and runs this)::

    python benches/compare/compare.py [--quick] [--backends garage,fs] [--clients ...]

S3 servers are read from the environment: ``garage`` from ``S3KV_TEST_GARAGE_*``, ``moto``
from ``S3KV_TEST_*``; KMS for the encryption client from ``S3KV_TEST_ENDPOINT`` (moto).
Writes a JSON file, a Markdown report and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import clients
import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MB = 1_000_000

# Full and quick sizes; each can be overridden on the command line.
FULL = {
    "value_mb": 100, "repeat": 5, "latency_ops": 300, "batch": 2000, "list_keys": 10_000,
    "rounds": 5, "list_runs": 3,
}
QUICK = {
    "value_mb": 10, "repeat": 1, "latency_ops": 50, "batch": 200, "list_keys": 200,
    "rounds": 1, "list_runs": 1,
}

# The small-value case is run again, in rounds that take the clients in turn, only for a
# client whose first round took less than this: the slow ones (the original library, the
# encrypting peer) take minutes a round, and their figures are far from any target.
ROUND_LIMIT = 60

SMALL_SIZE = 1000

# One job may take this long before it is stopped and reported as failed.
JOB_TIMEOUT = 1800


def backend_settings(name: str, work_dir: str) -> Optional[Dict[str, str]]:
    """A backend's settings from the environment, or None when it names none."""
    kms = os.environ.get("S3KV_TEST_ENDPOINT", "")
    if name == "fs":
        return {"kind": "fs", "path": os.path.join(work_dir, "fs"), "kms_endpoint": ""}
    variable = {"garage": "S3KV_TEST_GARAGE_", "moto": "S3KV_TEST_"}.get(name)
    if variable is None:
        raise SystemExit(f"unknown backend {name!r}: garage, moto or fs")
    endpoint = os.environ.get(variable + "ENDPOINT")
    if not endpoint:
        return None
    return {
        "kind": "s3",
        "endpoint": endpoint,
        "bucket": os.environ.get(variable + "BUCKET", "s3kv-test"),
        "access_key": os.environ.get(variable + "ACCESS_KEY", ""),
        "secret_key": os.environ.get(variable + "SECRET_KEY", ""),
        "region": os.environ.get(variable + "REGION", "us-east-1"),
        "kms_endpoint": kms,
    }


def run_job(job: Dict[str, Any]) -> Dict[str, Any]:
    """Runs one job in a fresh process; its result, or the reason it failed."""
    command = [sys.executable, os.path.join(HERE, "worker.py"), json.dumps(job)]
    label = f"{job['backend']} {job['client']} {job['label']}"
    print(f"  {label} ...", end="", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=JOB_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        print(f" timed out after {JOB_TIMEOUT} s")
        return {"error": f"timed out after {JOB_TIMEOUT} s"}
    except OSError as error:
        print(f" cannot start: {error}")
        return {"error": f"cannot start the worker: {error}"}
    took = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f" FAILED ({tail[0]})")
        sys.stderr.write(done.stderr)
        return {"error": tail[0]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mark = "" if result.get("verified") else " NOT VERIFIED"
    print(f" {took:.1f} s{mark}")
    return result


def measure_backend(
    backend_name: str,
    settings: Dict[str, str],
    names: List[str],
    sizes: Dict[str, Any],
    run_id: str,
) -> Dict[str, Dict[str, Any]]:
    """Every case for every client on one backend, case by case so ratios share a moment."""
    backend = clients.Backend(backend_name, settings)
    results: Dict[str, Dict[str, Any]] = {name: {} for name in names}
    runnable = []
    for name in names:
        reason = clients.unavailable(name, backend)
        if reason:
            print(f"  {backend_name} {name}: not run: {reason}")
            results[name]["skipped"] = reason
        else:
            runnable.append(name)
    if "s3ec" in runnable:
        settings = {**settings, "kms_key": clients.create_kms_key(backend)}

    def job(client: str, case: str, label: str, **extra: Any) -> Dict[str, Any]:
        return {
            "backend": backend_name,
            "settings": settings,
            "client": client,
            "prefix": f"{run_id}/{client}",
            "case": case,
            "label": label,
            **extra,
        }

    size = int(sizes["value_mb"] * MB)
    for value in ("random", "text"):
        for client in runnable:
            key = f"big-{value}"
            put = run_job(
                job(client, "big", f"put {value}", op="put", value=value, size=size,
                    key=key, repeat=sizes["repeat"])
            )
            results[client][f"put_{value}"] = put
            if "digest" not in put:
                results[client][f"get_{value}"] = {"error": "not run: the put failed"}
                continue
            results[client][f"get_{value}"] = run_job(
                job(client, "big", f"get {value}", op="get", value=value, size=size,
                    key=key, repeat=sizes["repeat"], digest=put["digest"])
            )

    # Rounds take the clients in turn, so a slow spell of the machine falls on all of them
    # rather than on whichever ran then; each figure is the median of a client's rounds. Each
    # round starts one client later, so no client always follows the same one (and the server
    # work that client leaves behind).
    rounds: Dict[str, List[Dict[str, Any]]] = {client: [] for client in runnable}
    for round_number in range(sizes["rounds"]):
        shift = round_number % max(len(runnable), 1)
        for client in runnable[shift:] + runnable[:shift]:
            if round_number > 0 and not rounds[client][0].get("repeat", False):
                continue
            label = f"1 KB latency and batches, round {round_number + 1}"
            started = time.perf_counter()
            result = run_job(
                job(client, "small", label, small_size=SMALL_SIZE,
                    latency_ops=sizes["latency_ops"], batch=sizes["batch"])
            )
            result["repeat"] = "error" not in result and time.perf_counter() - started < ROUND_LIMIT
            rounds[client].append(result)
    for client in runnable:
        results[client]["small"] = merged_rounds(rounds[client])

    plain_prefix = f"{run_id}/plain"
    listers = []
    for client in runnable:
        if client == "s3ec":
            results[client]["list"] = {
                "skipped": "no listing of its own: it lists with the boto3 client it wraps"
            }
        else:
            listers.append(client)
    if any(client != "s3kv" for client in listers):
        print(f"  seeding {sizes['list_keys']} objects for the plain clients")
        clients.seed_plain(backend, plain_prefix, sizes["list_keys"], b"x")
    prefixes = {
        client: {
            "s3kv": f"{run_id}/s3kv-list",
            "legacy": plain_prefix,
        }.get(client, f"{plain_prefix}/{clients.legacy.hex_name(clients.COLLECTION)}")
        for client in listers
    }
    # Listings take turns in rounds too. s3kv seeds its own collection in its first round (its
    # layout is its own), so from the second round on no client lists just after writing.
    listings: Dict[str, List[Dict[str, Any]]] = {client: [] for client in listers}
    for round_number in range(sizes["rounds"]):
        shift = round_number % max(len(listers), 1)
        for client in listers[shift:] + listers[:shift]:
            listing = job(client, "list", f"list {sizes['list_keys']}, round {round_number + 1}",
                          list_keys=sizes["list_keys"], list_runs=sizes["list_runs"],
                          seed=round_number == 0)
            listing["prefix"] = prefixes[client]
            listings[client].append(run_job(listing))
    for client in listers:
        results[client]["list"] = merged_listings(listings[client])
    return results


def merged_listings(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One listing result from a client's rounds: the median of every timed run of every
    round, verified only if every round was; the first error or miss, if any."""
    for result in results:
        if "error" in result or not result.get("verified"):
            return result
    times = [seconds for result in results for seconds in result["list_runs"]]
    return {**results[0], "list": statistics.median(times), "list_runs": times,
            "rounds": len(results)}


def merged_rounds(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One result from a client's rounds: each figure the median of the rounds that have it,
    verified only if every round was; the first error, if any round failed."""
    failed = [result for result in results if "error" in result]
    if failed:
        return failed[0]
    merged: Dict[str, Any] = {"rounds": len(results)}
    for name in results[0]:
        values = [result[name] for result in results if name in result]
        if name == "verified":
            merged[name] = all(values)
        elif name != "repeat" and all(isinstance(value, (int, float)) for value in values):
            merged[name] = statistics.median(values)
            if len(values) > 1:
                merged[f"{name}_rounds"] = values
        elif name != "repeat":
            merged[name] = values[0]
    return merged


def machine() -> Dict[str, Any]:
    """What the figures were measured on."""
    info: Dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def parse_arguments(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--backends", default="garage,fs", help="garage, moto and fs")
    parser.add_argument("--clients", default=",".join(clients.CLIENTS))
    parser.add_argument("--value-mb", type=float, help="size of the large values, in MB")
    parser.add_argument("--repeat", type=int, help="runs of each large put and get")
    parser.add_argument("--latency-ops", type=int, help="timed 1 KB puts and gets")
    parser.add_argument("--batch", type=int, help="values in the 1 KB batches")
    parser.add_argument("--list-keys", type=int, help="keys in the listing case")
    parser.add_argument("--rounds", type=int, help="rounds of the 1 KB case, clients in turn")
    parser.add_argument("--list-runs", type=int, help="timed listings, the median counts")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, "target", "bench-compare"))
    parser.add_argument("--json", help="results file (default: <work-dir>/results.json)")
    parser.add_argument("--markdown", help="report (default: <work-dir>/results.md)")
    parser.add_argument("--plot", help="PNG plot (default: <work-dir>/benchmarks-compare.png)")
    parser.add_argument(
        "--report-only", metavar="RESULTS_JSON",
        help="measure nothing: write the report and plot again from an earlier results file",
    )
    return parser.parse_args(argv)


def write_reports(results: Dict[str, Any], args: argparse.Namespace) -> int:
    """The Markdown report and the plot; returns the exit code (1 when a job failed)."""
    markdown = report.markdown(results)
    markdown_path = args.markdown or os.path.join(args.work_dir, "results.md")
    with open(markdown_path, "w", encoding="utf-8") as file:
        file.write(markdown)
    plot_path = args.plot or os.path.join(args.work_dir, "benchmarks-compare.png")
    plotted = report.plot(results, plot_path)
    print(markdown)
    print(f"report: {markdown_path}")
    print(f"plot: {plot_path}" if plotted else "plot: not drawn (matplotlib is not installed)")

    failures = report.failures(results)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_arguments(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.report_only:
        with open(args.report_only, encoding="utf-8") as file:
            return write_reports(json.load(file), args)
    sizes = dict(QUICK if args.quick else FULL)
    for name in sizes:
        override = getattr(args, name)
        if override is not None:
            sizes[name] = override
    names = [name for name in args.clients.split(",") if name]
    unknown = [name for name in names if name not in clients.CLIENTS]
    if unknown:
        raise SystemExit(f"unknown clients {unknown}: choose from {list(clients.CLIENTS)}")

    run_id = f"cmp-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    started = time.time()
    results: Dict[str, Any] = {
        "run": run_id,
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "command": " ".join(["compare.py", *(argv if argv is not None else sys.argv[1:])]),
        "sizes": sizes,
        "small_size": SMALL_SIZE,
        "in_flight": clients.IN_FLIGHT,
        "machine": machine(),
        "clients": {name: clients.DESCRIPTIONS[name] for name in names},
        "backends": {},
    }

    for backend_name in [name for name in args.backends.split(",") if name]:
        settings = backend_settings(backend_name, args.work_dir)
        if settings is None:
            print(f"{backend_name}: not run: its S3KV_TEST_* variables are not set")
            results["backends"][backend_name] = {"skipped": "no endpoint in the environment"}
            continue
        print(f"{backend_name}:")
        results["backends"][backend_name] = measure_backend(
            backend_name, settings, names, sizes, run_id
        )
        if settings["kind"] == "fs":
            shutil.rmtree(settings["path"], ignore_errors=True)

    results["seconds"] = time.time() - started
    results["load_average_at_end"] = list(os.getloadavg())
    json_path = args.json or os.path.join(args.work_dir, "results.json")
    with open(json_path, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1)
    print(f"results: {json_path}")
    return write_reports(results, args)


if __name__ == "__main__":
    sys.exit(main())
