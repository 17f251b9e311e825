"""The Streamlit connection, driven by Streamlit's AppTest: settings from kwargs, secrets and
the environment in every mode, the compatibility import, and the demo app."""

import os
import pathlib
import textwrap

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import s3_kwargs

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(autouse=True)
def fresh_connections():
    """st.connection caches per process on name and kwargs; every test starts clean."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def app(body: str) -> AppTest:
    script = textwrap.dedent(body)
    return AppTest.from_string(script, default_timeout=60)


def settings_for(mode, tmp_path):
    if mode == "dict":
        return {"mode": "dict"}
    if mode == "local":
        return {"mode": "local", "path": str(tmp_path / "data")}
    kwargs = s3_kwargs()
    if kwargs is None:
        pytest.skip("no S3 server: set S3KV_TEST_ENDPOINT (cargo xtask test does)")
    return kwargs


SCRIPT = """
    import streamlit as st
    from {module} import S3KV
    conn = st.connection("my_kv", type=S3KV{kwargs})
    db = conn.collection("examples", "password-to-this-collection")
    db["key1"] = "🎈"
    db["key2"] = {{"name": "Boaty McBoatface", "launched": 2017}}
    db["key4"] = lambda x: f"Hello {{x}}!"
    st.write(db["key1"])
    st.write(db["key4"](db["key2"]["name"]))
    st.write(", ".join(db.keys()))
"""


def check(at: AppTest, newest_first: bool = False):
    at.run()
    assert not at.exception, at.exception
    shown = [element.value for element in at.markdown]
    assert "🎈" in shown
    assert "Hello Boaty McBoatface!" in shown
    if newest_first:
        # Writes in one script may share a timestamp, so only the set of keys is certain here;
        # test_compat.py checks the order with writes far enough apart.
        assert sorted(shown[2].split(", ")) == ["key1", "key2", "key4"], shown
    else:
        assert "key1, key2, key4" in shown


@pytest.mark.parametrize("mode", ["dict", "local", "s3"])
def test_settings_from_secrets(mode, tmp_path):
    at = app(SCRIPT.format(module="s3kv", kwargs=""))
    at.secrets["connections"] = {"my_kv": settings_for(mode, tmp_path)}
    check(at)


@pytest.mark.parametrize("mode", ["dict", "local", "s3"])
def test_settings_from_kwargs(mode, tmp_path):
    kwargs = "".join(f", {name}={value!r}" for name, value in settings_for(mode, tmp_path).items())
    check(app(SCRIPT.format(module="s3kv", kwargs=kwargs)))


@pytest.mark.parametrize("mode", ["dict", "local", "s3"])
def test_settings_from_the_environment(mode, tmp_path, monkeypatch):
    for name, value in settings_for(mode, tmp_path).items():
        monkeypatch.setenv(f"my_kv_{name}", str(value))
    check(app(SCRIPT.format(module="s3kv", kwargs="")))


def test_secrets_file_in_the_apps_folder(tmp_path):
    data = tmp_path / "data"
    folder = pathlib.Path.cwd() / ".streamlit"
    folder.mkdir()
    (folder / "secrets.toml").write_text(
        f'[connections.my_kv]\nmode = "local"\npath = "{data}"\n'
    )
    check(app(SCRIPT.format(module="s3kv", kwargs="")))
    assert (data / "6578616d706c6573" / "manifest.s3kv").is_file()


@pytest.mark.parametrize("mode", ["dict", "local"])
def test_the_compatibility_import_works_the_same_way(mode, tmp_path):
    at = app(SCRIPT.format(module="st_s3kv_connection", kwargs=""))
    at.secrets["connections"] = {"my_kv": settings_for(mode, tmp_path)}
    check(at, newest_first=True)


def test_the_compatibility_import_reads_a_missing_key_as_none():
    at = app("""
        import streamlit as st
        from st_s3kv_connection import S3KV
        db = st.connection("my_kv", type=S3KV, mode="dict").collection("c")
        st.write(repr(db["missing"]))
    """)
    at.run()
    assert not at.exception, at.exception
    assert [element.value for element in at.markdown] == ["None"]


def test_a_wrong_password_shows_an_s3kv_error(tmp_path):
    at = app(f"""
        import streamlit as st
        import s3kv
        conn = st.connection("my_kv", type=s3kv.S3KV, mode="local", path={str(tmp_path)!r})
        conn.collection("c", "right")["k"] = 1
        try:
            conn.collection("c", "wrong")
        except s3kv.WrongPasswordError as error:
            st.write("refused: " + str(error))
    """)
    at.run()
    assert not at.exception, at.exception
    assert at.markdown[0].value.startswith("refused: wrong password")


def test_reset_reconnects(tmp_path):
    at = app(f"""
        import streamlit as st
        import s3kv
        conn = st.connection("my_kv", type=s3kv.S3KV, mode="local", path={str(tmp_path)!r})
        conn.collection("c")["k"] = 1
        conn.reset()
        st.write(str(conn.collection("c")["k"]))
    """)
    at.run()
    assert not at.exception, at.exception
    assert at.markdown[0].value == "1"


def demo(tmp_path) -> AppTest:
    at = AppTest.from_file(str(EXAMPLES / "demo_app.py"), default_timeout=120)
    at.secrets["connections"] = {
        "s3kv_demo": {"mode": "local", "path": str(tmp_path / "demo-data")}
    }
    return at


def test_the_demo_app_stores_and_shows_every_kind_of_value(tmp_path):
    at = demo(tmp_path)
    at.run()
    assert not at.exception, at.exception
    shown = [element.value for element in at.markdown]
    assert "🎈" in shown
    assert "Hello Boaty McBoatface!" in shown
    assert (tmp_path / "demo-data" / "6578616d706c6573" / "manifest.s3kv").is_file()


def test_the_demo_app_makes_stores_and_loads_a_picture(tmp_path):
    at = demo(tmp_path)
    at.run()
    button = lambda label: next(b for b in at.button if b.label == label)
    button("make a random picture").click().run()
    assert not at.exception, at.exception
    at.selectbox(key="key1").set_value(7).run()
    button("save picture in DB").click().run()
    assert "saved under key 7" in [element.value for element in at.success]
    at.selectbox(key="key2").set_value(7).run()
    button("load picture from DB").click().run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 2
    # The stored picture is the PNG that was made, byte for byte.
    import s3kv

    stored = s3kv.connect(mode="local", path=str(tmp_path / "demo-data")).collection("demo_images")
    assert stored["7"] == at.session_state["image1"]
    assert stored["7"].startswith(b"\x89PNG")


def test_the_demo_app_saves_loads_and_deletes_a_note(tmp_path):
    at = demo(tmp_path)
    at.run()
    at.text_input[0].set_value("greeting").run()
    at.text_area[0].set_value("hello from the test").run()
    next(b for b in at.button if b.label == "save note").click().run()
    assert not at.exception, at.exception
    at.selectbox(key="note_key").set_value("greeting").run()
    next(b for b in at.button if b.label == "load note").click().run()
    assert "hello from the test" in [element.value for element in at.text]

    at.radio[0].set_value("demo_notes").run()
    at.selectbox(key="doomed").set_value("greeting").run()
    next(b for b in at.button if b.label == "delete key").click().run()
    assert not at.exception, at.exception
    assert "greeting" not in at.selectbox(key="note_key").options


def test_the_demo_app_runs_the_100_mb_demonstration(tmp_path):
    at = demo(tmp_path)
    at.run()
    next(b for b in at.button if b.label == "run the 100 MB demonstration").click().run(timeout=300)
    assert not at.exception, at.exception
    shown = [element.value for element in at.markdown]
    assert "length read back: 100000000" in shown
    assert "first 100 characters: " + "1234567890" * 10 in shown
    assert any(value.startswith("write ") and " s, read " in value for value in shown)


def test_file_progress_shows_a_streamlit_bar():
    at = app("""
        import io
        import streamlit as st
        import s3kv
        db = st.connection("my_kv", type=s3kv.S3KV, mode="dict").collection("files")
        db.put_file("f", io.BytesIO(b"x" * 3_000_000), progress=True)
        st.write(len(db["f"]))
    """)
    at.run()
    assert not at.exception, at.exception
    bars = at.get("progress")
    assert len(bars) == 1 and bars[0].proto.value == 100
    assert bars[0].proto.text == "storing f"
    assert [element.value for element in at.markdown] == ["`3000000`"]
