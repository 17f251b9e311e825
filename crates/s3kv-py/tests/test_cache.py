"""The read cache from Python: ``ttl`` switches it on, reads are served from it, every read
gets its own object, and another process's writes show after the ttl or on ``revalidate``."""

import json
import subprocess
import sys
import textwrap
import time

import pytest

import s3kv


def test_no_ttl_means_no_cache(conn):
    db = conn.collection("plain")
    db["k"] = "one"
    assert db["k"] == "one"
    assert db.cache_stats() is None


def test_cached_reads_hit_and_revalidate(conn_kwargs):
    conn = s3kv.connect(**conn_kwargs, ttl="10m")
    db = conn.collection("cached", password="pw")
    db["k"] = {"rows": list(range(100))}
    for _ in range(20):
        assert db["k"] == {"rows": list(range(100))}
    stats = db.cache_stats()
    assert stats["hits"] == 20 and stats["entries"] == 1 and stats["bytes"] > 0
    assert db.get("k", revalidate=True) == {"rows": list(range(100))}
    assert db.cache_stats()["revalidations"] == 1
    # Opening the collection again, as every Streamlit rerun does, keeps the cache.
    again = conn.collection("cached", password="pw")
    assert again["k"] == {"rows": list(range(100))}
    assert again.cache_stats()["hits"] == 21
    del db["k"]
    assert "k" not in db and db.get("k") is None


def test_every_read_gets_its_own_object(conn_kwargs):
    db = s3kv.connect(**conn_kwargs, ttl=600).collection("mutable", password="pw")
    db["k"] = [1, 2]
    first = db["k"]
    first.append(3)
    assert db["k"] == [1, 2]
    assert db["k"] is not db["k"]


def test_collection_ttl_overrides_the_connection(conn_kwargs):
    conn = s3kv.connect(**conn_kwargs)
    assert conn.collection("c").cache_stats() is None
    db = conn.collection("c", ttl="1m")
    db["k"] = "v"
    assert db["k"] == "v" and db.cache_stats()["hits"] == 1
    with pytest.raises(s3kv.ConfigError, match="ttl"):
        conn.collection("c", ttl="soon")


_WRITER = textwrap.dedent(
    """
    import json, sys
    import s3kv
    kwargs = json.loads(sys.argv[1])
    db = s3kv.connect(**kwargs).collection("replicas", password="pw")
    if sys.argv[2] == "delete":
        del db["k"]
    else:
        db["k"] = sys.argv[2]
    """
)


def _write_from_another_process(kwargs, value):
    subprocess.run(
        [sys.executable, "-c", _WRITER, json.dumps(kwargs), value],
        check=True,
        timeout=120,
    )


def test_another_process_write_shows_after_ttl_or_on_revalidate(tmp_path):
    """Two app replicas on one bucket (or one folder): a replica sees the other's writes
    within its ttl, at once when it revalidates, and never re-downloads an unchanged value."""
    from conftest import s3_kwargs

    kwargs = s3_kwargs() or {"mode": "local", "path": str(tmp_path / "data")}
    _write_from_another_process(kwargs, "one")
    # A ttl far longer than the test: whatever the machine's speed, the entry stays fresh.
    db = s3kv.connect(**kwargs, ttl=3600).collection("replicas", password="pw")
    assert db["k"] == "one"
    _write_from_another_process(kwargs, "two")
    assert db["k"] == "one", "within the ttl the cached value is served"
    assert db.get("k", revalidate=True) == "two"
    revalidations = db.cache_stats()["revalidations"]
    assert db.get("k", revalidate=True) == "two"
    assert db.cache_stats()["revalidations"] == revalidations + 1, "unchanged: not modified"

    # A short ttl: once it has passed, a plain read asks the storage and sees the write.
    short = s3kv.connect(**kwargs, ttl=0.5).collection("replicas", password="pw")
    assert short["k"] == "two"
    _write_from_another_process(kwargs, "three")
    time.sleep(0.6)
    assert short["k"] == "three"
    _write_from_another_process(kwargs, "delete")
    time.sleep(0.6)
    assert short.get("k") is None
