"""The side-by-side benchmark (benches/compare/) still runs, and still checks what it reads.

Tiny sizes, on a local folder and on the suite's S3 server; peers whose packages are not
installed (``requirements-bench.txt`` is not part of the test set-up) are left out, but
s3kv, the original pipeline and boto3 always run. No timing is asserted.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
COMPARE = ROOT / "benches" / "compare"
VECTORS = ROOT / "crates" / "s3kv-codec" / "tests" / "data" / "legacy"

sys.path.insert(0, str(COMPARE))

import clients  # noqa: E402
import legacy  # noqa: E402
import report  # noqa: E402
import worker  # noqa: E402

TINY = ["--value-mb", "0.2", "--repeat", "1", "--latency-ops", "10", "--batch", "20",
        "--list-keys", "30"]


def installed_peers():
    optional = {"obstore": "obstore", "s3ec": "s3_encryption"}
    return [name for name, module in optional.items() if importlib.util.find_spec(module)]


def test_the_legacy_pipeline_reads_the_original_librarys_own_objects():
    manifest = json.loads((VECTORS / "MANIFEST.json").read_text())
    for entry in manifest["objects"]:
        key = legacy.derive_key(entry["password"], entry["salt_hex"])
        value = legacy.decode((VECTORS / entry["object_path"]).read_bytes(), key)
        assert type(value).__name__ == entry["python_type"], entry["key"]


def test_the_legacy_pipeline_writes_what_s3kv_reads_as_the_originals(tmp_path):
    import s3kv

    db = legacy.FolderCollection(str(tmp_path), "notes", "pw")
    db["a key"] = {"n": [1, 2]}
    assert db.get("a key") == {"n": [1, 2]}
    assert db.keys() == ["a key"]

    opened = s3kv.connect(mode="local", path=str(tmp_path)).collection("notes", password="pw")
    assert opened["a key"] == {"n": [1, 2]}
    assert opened.info("a key").legacy


class _Garbling(clients.Client):
    """A client that stores nothing and reads back the wrong bytes, fast."""

    def put(self, key, value):
        pass

    def get(self, key):
        return b"\0" * 1000

    def put_many(self, items):
        pass

    def get_many(self, keys):
        return {key: b"\0" * 1000 for key in keys}


def test_a_client_that_reads_wrong_bytes_is_not_verified():
    job = {"small_size": 1000, "latency_ops": 3, "batch": 4}
    result = worker.small(job, _Garbling())
    assert result["verified"] is False

    results = {"backends": {"fs": {"garbling": {"small": result}}}}
    assert report.failures(results) == ["fs garbling small: data read back differs"]


def run_compare(tmp_path, backends, names):
    out = tmp_path / "out"
    command = [sys.executable, str(COMPARE / "compare.py"), "--backends", backends,
               "--clients", ",".join(names), "--work-dir", str(out), *TINY]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text(), out


def test_the_comparison_runs_and_verifies_every_case(tmp_path):
    backends = "fs"
    if os.environ.get("S3KV_TEST_ENDPOINT"):
        backends = "fs,moto"
    elif os.environ.get("S3KV_REQUIRE_S3"):
        pytest.fail("S3KV_REQUIRE_S3 is set but S3KV_TEST_ENDPOINT is not")
    names = ["s3kv", "legacy", "boto3", *installed_peers()]

    results, markdown, out = run_compare(tmp_path, backends, names)

    for backend in backends.split(","):
        entries = results["backends"][backend]
        ran = [name for name in names if "skipped" not in entries[name]]
        expected = {"s3kv", "legacy"} | ({"boto3"} if backend == "moto" else set())
        assert expected <= set(ran), (backend, ran)
        for name in ran:
            cases = entries[name]
            assert {"put_random", "get_random", "put_text", "get_text", "small"} <= set(cases)
            for case, result in cases.items():
                if "skipped" in result:
                    continue
                assert result.get("verified"), (backend, name, case, result)
        small = entries["s3kv"]["small"]
        assert small["batch_get"] > 0 and small["latency_get_p90"] >= small["latency_get_p50"]
        assert f"### {backend}" in markdown
    assert "within 1.2× obstore" in markdown or "obstore" not in names
    if importlib.util.find_spec("matplotlib"):
        assert (out / "benchmarks-compare.png").stat().st_size > 10_000
