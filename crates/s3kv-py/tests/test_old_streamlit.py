"""The original library's README examples on Streamlit 1.36, the last one that has
`st.experimental_connection`.

Apps written for `st_s3kv_connection` call `st.experimental_connection('my_kv', type=S3KV)`.
Streamlit removed that call after 1.36, so such apps pin an older Streamlit, and s3kv must work
there. Each test runs one of the README's examples with Streamlit's AppTest in a virtualenv that
has Streamlit 1.36 (`cargo xtask test` makes `.venv-streamlit-1.36` and names its python in
S3KV_STREAMLIT_1_36_PYTHON), with the s3kv package this pytest imports put on its path; then
reads what the app stored with that package, as an upgraded app would.

Without that interpreter the tests fail under `cargo xtask test` (S3KV_REQUIRE_S3 set) and are
skipped elsewhere.
"""

import json
import os
import pathlib
import subprocess
import textwrap

import pytest

import s3kv
import st_s3kv_connection
from conftest import s3_kwargs_or_skip

VARIABLE = "S3KV_STREAMLIT_1_36_PYTHON"

#: A run of an example, Streamlit's start included, takes a few seconds; a hang fails instead.
RUN_SECONDS = 180

#: Runs in the old Streamlit: the app given on stdin, then prints what the page shows as JSON.
DRIVER = textwrap.dedent(
    """
    import json, sys
    import streamlit
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(sys.stdin.read(), default_timeout=120).run()
    print(json.dumps({
        "version": streamlit.__version__,
        "has_experimental_connection": hasattr(streamlit, "experimental_connection"),
        "exceptions": [item.value for item in at.exception],
        "markdown": [item.value for item in at.markdown],
        "json": [json.loads(item.value) for item in at.json],
    }))
    """
)

#: The README's simple_app.py, word for word but for the connection's name.
SIMPLE_APP = textwrap.dedent(
    """
    import streamlit as st
    import numpy as np
    from st_s3kv_connection import S3KV

    s3 = st.experimental_connection('my_kv', type=S3KV)
    db = s3.collection('examples', 'password-to-this-collection')

    db['key1'] = "🎈"
    db['key2'] = {'name':'Boaty McBoatface', 'launched':2017}
    db['key3'] = np.array([42, 2501, 1337])
    db['key4'] = lambda x: f'Hello {x}!'

    st.write(db['key1'])
    st.write(db['key4'](db['key2']['name']))

    del db['key3']
    st.write(db.keys())
    """
)


@pytest.fixture
def old_python() -> str:
    path = os.environ.get(VARIABLE)
    reason = None
    if not path:
        reason = f"{VARIABLE} is not set, so there is no Streamlit 1.36 to run the examples in"
    elif not os.path.isfile(path):
        reason = f"{VARIABLE} names {path}, which does not exist"
    if reason:
        if os.environ.get("S3KV_REQUIRE_S3"):
            pytest.fail(f"{reason} (cargo xtask test makes .venv-streamlit-1.36 and sets it)")
        pytest.skip(reason)
    return path


@pytest.fixture
def package_path(tmp_path) -> str:
    """A folder holding only the s3kv packages this pytest imports, for the old Streamlit's path."""
    folder = tmp_path / "s3kv-only"
    folder.mkdir()
    for module in (s3kv, st_s3kv_connection):
        package = pathlib.Path(module.__file__).parent
        (folder / package.name).symlink_to(package, target_is_directory=True)
    return str(folder)


def run_app(python: str, package_path: str, app: str, variables: dict, cwd) -> dict:
    """What the page of `app` shows under Streamlit 1.36, with `variables` in its environment."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().startswith(("my_kv", "pythonpath"))
    }
    environment.update(variables)
    environment["PYTHONPATH"] = package_path
    done = subprocess.run(
        [python, "-c", DRIVER],
        input=app,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=RUN_SECONDS,
    )
    assert done.returncode == 0, f"the app did not run:\n{done.stdout}\n{done.stderr}"
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["version"] == "1.36.0", shown
    assert shown["has_experimental_connection"], shown
    assert shown["exceptions"] == [], shown["exceptions"]
    return shown


def check_simple_app(shown: dict, stored: s3kv.Connection) -> None:
    """The page of simple_app.py, and its collection read by this s3kv afterwards."""
    assert shown["markdown"] == ["🎈", "Hello Boaty McBoatface!"], shown
    assert len(shown["json"]) == 1 and sorted(shown["json"][0]) == ["key1", "key2", "key4"]

    db = stored.collection("examples", "password-to-this-collection")
    assert sorted(db.keys()) == ["key1", "key2", "key4"]
    assert db["key1"] == "🎈"
    assert db["key2"] == {"name": "Boaty McBoatface", "launched": 2017}
    assert db["key4"]("again") == "Hello again!"
    with pytest.raises(s3kv.WrongPasswordError):
        stored.collection("examples", "another password")["key1"]


def test_simple_app_on_a_local_folder(old_python, package_path, tmp_path):
    folder = tmp_path / "data"
    variables = {"my_kv_mode": "local", "my_kv_path": str(folder)}
    shown = run_app(old_python, package_path, SIMPLE_APP, variables, tmp_path)
    check_simple_app(shown, s3kv.connect(mode="local", path=str(folder)))


def test_simple_app_on_s3_from_environment_variables(old_python, package_path, tmp_path):
    kwargs = s3_kwargs_or_skip()
    variables = {f"my_kv_{name}": value for name, value in kwargs.items()}
    shown = run_app(old_python, package_path, SIMPLE_APP, variables, tmp_path)
    check_simple_app(shown, s3kv.connect(**kwargs))


def test_connection_kwargs_and_missing_keys(old_python, package_path, tmp_path):
    """The README's "connection kwargs" forms; a missing key reads as None, as it did.

    The README names its local connection `None`, which Streamlit itself refuses since 1.28
    (its factory calls `name.startswith`), whatever the connection class: here it has a name.
    """
    folder = tmp_path / "data"
    app = textwrap.dedent(
        f"""
        import streamlit as st
        from st_s3kv_connection import S3KV

        s3 = st.experimental_connection('notes_kv', type=S3KV, mode="local",
                                        path={str(folder)!r}, password="xxx")
        db = s3.collection('notes')
        db['first'] = 'kept on disk'
        st.write(db['first'])
        st.write(repr(db['missing']))

        memory = st.experimental_connection('my_kv', type=S3KV, mode="dict")
        scratch = memory.collection('scratch')
        scratch['n'] = 41
        scratch['n'] += 1
        st.write(str(scratch['n']))
        """
    )
    shown = run_app(old_python, package_path, app, {}, tmp_path)
    assert shown["markdown"] == ["kept on disk", "None", "42"], shown

    notes = s3kv.connect(mode="local", path=str(folder), password="xxx").collection("notes")
    assert dict(notes.items()) == {"first": "kept on disk"}
    with pytest.raises(s3kv.WrongPasswordError):
        s3kv.connect(mode="local", path=str(folder)).collection("notes")["first"]

