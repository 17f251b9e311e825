"""Fixtures: a connection to each storage the tests run against.

Memory and a local folder always; S3 when ``S3KV_TEST_ENDPOINT`` names a server (``cargo
xtask test`` starts one). Each S3 test gets its own prefix so tests never see each other's keys.
"""

import itertools
import os
import time

import pytest

import s3kv

_counter = itertools.count()


def s3_kwargs():
    """Connection kwargs for the test S3 server under a fresh prefix, or None."""
    endpoint = os.environ.get("S3KV_TEST_ENDPOINT")
    if not endpoint:
        return None
    return {
        "mode": "s3",
        "endpoint": endpoint,
        "bucket": os.environ.get("S3KV_TEST_BUCKET", "s3kv-test"),
        "access_key": os.environ.get("S3KV_TEST_ACCESS_KEY", "s3kv-test-access"),
        "secret_key": os.environ.get("S3KV_TEST_SECRET_KEY", "s3kv-test-secret-key"),
        "region": os.environ.get("S3KV_TEST_REGION", "us-east-1"),
        "prefix": f"py-{time.time_ns()}-{os.getpid()}-{next(_counter)}",
    }


def s3_kwargs_or_skip():
    """``s3_kwargs()``; without a server the test is skipped, or fails when one was promised."""
    kwargs = s3_kwargs()
    if kwargs is None:
        if os.environ.get("S3KV_REQUIRE_S3"):
            pytest.fail("S3KV_REQUIRE_S3 is set but S3KV_TEST_ENDPOINT is not")
        pytest.skip("no S3 server: set S3KV_TEST_ENDPOINT (cargo xtask test does)")
    return kwargs


def s3_client(kwargs):
    """A boto3 client for the server ``kwargs`` name, to plant or inspect raw objects."""
    boto3 = pytest.importorskip("boto3")
    return boto3.client(
        "s3",
        endpoint_url=kwargs["endpoint"],
        region_name=kwargs["region"],
        aws_access_key_id=kwargs["access_key"],
        aws_secret_access_key=kwargs["secret_key"],
    )


MODES = ["dict", "local", "s3"]


@pytest.fixture(params=MODES)
def conn_kwargs(request, tmp_path):
    """Connection kwargs for each mode; skips S3 when no server is configured."""
    if request.param == "dict":
        return {"mode": "dict"}
    if request.param == "local":
        return {"mode": "local", "path": str(tmp_path / "data")}
    return s3_kwargs_or_skip()


@pytest.fixture
def conn(conn_kwargs):
    """A connection in each mode."""
    return s3kv.connect(**conn_kwargs)


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path):
    """Keep tests from reading the developer's own secrets and s3kv variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.lower().startswith(("my_kv", "s3kv_demo")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
