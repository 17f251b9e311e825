"""The file vault example, driven by Streamlit's AppTest: files uploaded through the page are
stored encrypted under their names, listed with their sizes, offered for download and deleted."""

import pathlib

import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

import s3kv

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"
PASSWORD = "vault-test-password"


@pytest.fixture(autouse=True)
def fresh_connections():
    """st.connection caches per process on name and kwargs; every test starts clean."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def data(tmp_path):
    return tmp_path / "vault-data"


def vault_app(data) -> AppTest:
    at = AppTest.from_file(str(EXAMPLES / "file_vault.py"), default_timeout=60)
    at.secrets["connections"] = {
        "s3kv_vault": {"mode": "local", "path": str(data), "password": PASSWORD}
    }
    at.run()
    assert not at.exception, at.exception
    return at


def stored(data):
    """The vault's collection, opened outside the app with the password from its settings."""
    return s3kv.connect(mode="local", path=str(data)).collection("vault_files", PASSWORD)


def upload(at: AppTest, *files):
    at.file_uploader(key="uploads").set_value(list(files)).run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "store files").click().run()
    assert not at.exception, at.exception


def table(at: AppTest):
    """The listing as the page shows it: file name to (size, stored size)."""
    frame = at.dataframe[0].value
    return {
        row["file"]: (row["size (bytes)"], row["stored (bytes)"]) for _, row in frame.iterrows()
    }


PICTURE = bytes(range(256)) * 40  # 10240 bytes that do not compress away
NOTES = "shopping list: 🍞, 🧀\n".encode() * 500


def test_an_empty_vault_says_so_and_offers_nothing(data):
    at = vault_app(data)
    assert [element.value for element in at.info] == ["The vault is empty."]
    assert len(at.dataframe) == 0
    assert len(at.download_button) == 0
    assert next(b for b in at.button if b.label == "store files").disabled


def test_uploaded_files_are_stored_encrypted_under_their_names(data):
    at = vault_app(data)
    upload(at, ("picture.bin", PICTURE, "application/octet-stream"), ("notes.txt", NOTES, "text/plain"))

    assert [element.value for element in at.success] == [
        f"stored picture.bin ({len(PICTURE)} bytes), notes.txt ({len(NOTES)} bytes)"
    ]
    collection = stored(data)
    assert sorted(collection) == ["notes.txt", "picture.bin"]
    assert collection["picture.bin"] == PICTURE
    assert collection["notes.txt"] == NOTES
    assert collection.info("notes.txt").encrypted
    # The stored bytes are not the file's: no plain text of it is left on disk.
    on_disk = b"".join(path.read_bytes() for path in data.rglob("*") if path.is_file())
    assert b"shopping list" not in on_disk
    with pytest.raises(s3kv.WrongPasswordError):
        s3kv.connect(mode="local", path=str(data)).collection("vault_files", "not-the-password")


def test_the_listing_shows_each_file_with_its_size(data):
    at = vault_app(data)
    upload(at, ("picture.bin", PICTURE, "application/octet-stream"), ("notes.txt", NOTES, "text/plain"))

    listing = table(at)
    assert sorted(listing) == ["notes.txt", "picture.bin"]
    assert listing["picture.bin"][0] == len(PICTURE)
    assert listing["notes.txt"][0] == len(NOTES)
    # The repetitive text is stored compressed, so it takes less room than the file.
    assert listing["notes.txt"][1] == stored(data).info("notes.txt").stored_size
    assert listing["notes.txt"][1] < len(NOTES)


def test_a_file_stored_again_replaces_the_old_one(data):
    at = vault_app(data)
    upload(at, ("notes.txt", b"first version", "text/plain"))
    upload(at, ("notes.txt", b"second, longer version", "text/plain"))

    assert table(at) == {"notes.txt": (22, stored(data).info("notes.txt").stored_size)}
    assert stored(data)["notes.txt"] == b"second, longer version"


def test_the_chosen_file_is_offered_for_download_as_stored(data):
    at = vault_app(data)
    upload(at, ("picture.bin", PICTURE, "application/octet-stream"), ("notes.txt", NOTES, "text/plain"))

    for name, content in [("picture.bin", PICTURE), ("notes.txt", NOTES)]:
        at.selectbox(key="chosen").set_value(name).run()
        assert not at.exception, at.exception
        [download] = at.download_button
        assert download.label == f"download {name}"
        # The button's URL names the served file by a digest of its bytes, type and name
        # (Streamlit's media storage, pinned in requirements-dev.txt): the same bytes as uploaded.
        file_id = _calculate_file_id(content, "application/octet-stream", name)
        assert f"/{file_id}." in download.proto.url, download.proto.url


def test_deleting_a_file_removes_it_from_the_page_and_the_vault(data):
    at = vault_app(data)
    upload(at, ("picture.bin", PICTURE, "application/octet-stream"), ("notes.txt", NOTES, "text/plain"))

    at.selectbox(key="chosen").set_value("notes.txt").run()
    next(b for b in at.button if b.label == "delete notes.txt").click().run()
    assert not at.exception, at.exception

    assert [element.value for element in at.success] == ["deleted notes.txt"]
    assert sorted(table(at)) == ["picture.bin"]
    assert at.selectbox(key="chosen").options == ["picture.bin"]
    assert list(stored(data)) == ["picture.bin"]

    at.selectbox(key="chosen").set_value("picture.bin").run()
    next(b for b in at.button if b.label == "delete picture.bin").click().run()
    assert [element.value for element in at.info] == ["The vault is empty."]
    assert len(stored(data)) == 0


def test_a_file_name_the_storage_refuses_is_reported_and_the_others_stored(data):
    at = vault_app(data)
    long_name = "x" * 2000 + ".txt"
    upload(at, (long_name, b"too long a name", "text/plain"), ("ok.txt", b"fine", "text/plain"))

    assert not at.exception, at.exception
    assert [element.value for element in at.success] == ["stored ok.txt (4 bytes)"]
    [problem] = [element.value for element in at.error]
    assert problem.startswith(f"could not store {long_name!r}: "), problem
    assert sorted(table(at)) == ["ok.txt"]
    assert list(stored(data)) == ["ok.txt"]
