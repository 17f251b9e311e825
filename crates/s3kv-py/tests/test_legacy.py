"""Values written by the original st_s3kv_connection library are read in place."""

import json
import pathlib
import shutil

import numpy as np

import s3kv

VECTORS = pathlib.Path(__file__).resolve().parents[2] / "s3kv-codec" / "tests" / "data" / "legacy"


def test_the_original_librarys_values_read_back_as_they_were_stored(tmp_path):
    shutil.copytree(VECTORS, tmp_path / "data")
    manifest = json.loads((VECTORS / "MANIFEST.json").read_text())
    conn = s3kv.connect(mode="local", path=str(tmp_path / "data"))
    for entry in manifest["objects"]:
        db = conn.collection(
            entry["collection"],
            password=entry["password"] or None,
            salt=entry["salt_hex"],
        )
        value = db[entry["key"]]
        expected = entry["json_view"]
        kind = entry["python_type"]
        if kind == "ndarray":
            assert np.array_equal(value, np.array(expected))
        elif kind == "bytes":
            assert isinstance(value, bytes)
        else:
            assert type(value).__name__ == kind
            assert value == expected
