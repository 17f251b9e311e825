"""Objects the original library wrote to S3 with its default empty prefix (keys that start with
``/``) become readable through the compatibility import after the adoption script runs."""

import importlib.util
import json
import pathlib
import time

import pytest

from conftest import s3_client, s3_kwargs_or_skip

VECTORS = pathlib.Path(__file__).resolve().parents[2] / "s3kv-codec" / "tests" / "data" / "legacy"
SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "examples" / "adopt_original_objects.py"


def _script():
    spec = importlib.util.spec_from_file_location("adopt_original_objects", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server():
    kwargs = s3_kwargs_or_skip()
    return kwargs, s3_client(kwargs)


def test_original_objects_under_a_leading_slash_are_adopted_and_read(server):
    kwargs, client = server
    bucket = kwargs["bucket"]
    manifest = json.loads((VECTORS / "MANIFEST.json").read_text())
    # The bucket is shared between runs: a collection name of this run's own keeps it apart.
    suffix = f"-{time.time_ns()}"
    planted = []
    for entry in manifest["objects"]:
        collection, key = entry["collection"] + suffix, entry["key"]
        name = f"/{collection.encode().hex()}/{key.encode().hex()}"
        client.put_object(Bucket=bucket, Key=name, Body=(VECTORS / entry["object_path"]).read_bytes())
        planted.append((entry, collection))

    first_hex = f"/{planted[0][1].encode().hex()}/"
    if client.list_objects_v2(Bucket=bucket, Prefix=first_hex).get("KeyCount", 0) == 0:
        pytest.skip("this server drops a leading / from object keys, so s3kv reads them as they are")

    import s3kv

    root = {k: v for k, v in kwargs.items() if k != "prefix"}
    conn = s3kv.connect(**root)
    entry, collection = planted[0]
    # The original's values are unauthenticated pickles: on S3 they are read with allow_pickle,
    # as the compatibility import does.
    options = {"password": entry["password"] or None, "salt": entry["salt_hex"], "allow_pickle": True}
    assert conn.collection(collection, **options).get(entry["key"]) is None, "not reachable yet"

    script = _script()
    first = script.adopt(client, bucket)
    assert first["copied"] >= len(planted)
    again = script.adopt(client, bucket)
    assert again["copied"] == 0, "a second run copies nothing"

    for entry, collection in planted:
        db = conn.collection(
            collection, password=entry["password"] or None, salt=entry["salt_hex"], allow_pickle=True
        )
        if entry["python_type"] in ("str", "dict", "list", "int", "float"):
            assert db[entry["key"]] == entry["json_view"], entry["key"]
        else:
            assert db[entry["key"]] is not None, entry["key"]

    # The originals stay unless asked; --delete-originals removes them.
    for entry, collection in planted:
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"/{collection.encode().hex()}/")
        assert listed.get("KeyCount", 0) >= 1
    for entry, collection in planted:
        script.adopt(client, bucket, collection=collection, delete_originals=True)
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"/{collection.encode().hex()}/")
        assert listed.get("KeyCount", 0) == 0
