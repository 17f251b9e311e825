"""Settings come from kwargs, then environment variables <name>_<param>, then the
[connections.<name>] table of .streamlit/secrets.toml, then defaults."""

import os

import pytest

import s3kv


def write_secrets(folder, text):
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    (folder / ".streamlit" / "secrets.toml").write_text(text)


def test_secrets_file_in_the_working_folder_configures_the_connection(tmp_path):
    data = tmp_path / "from-secrets"
    write_secrets(tmp_path / "work", f'[connections.my_kv]\nmode = "local"\npath = "{data}"\n')
    s3kv.connect("my_kv").collection("c")["k"] = "v"
    assert (data / "63" / "6b").is_file()


def test_secrets_file_in_the_home_folder_is_read_too(tmp_path):
    data = tmp_path / "from-home"
    write_secrets(tmp_path / "home", f'[connections.my_kv]\nmode = "local"\npath = "{data}"\n')
    s3kv.connect("my_kv").collection("c")["k"] = "v"
    assert (data / "63" / "6b").is_file()


def test_environment_beats_secrets_and_kwargs_beat_both(tmp_path, monkeypatch):
    secrets_data, env_data, kwarg_data = (tmp_path / n for n in ("s", "e", "k"))
    write_secrets(tmp_path / "work", f'[connections.my_kv]\nmode = "local"\npath = "{secrets_data}"\n')
    monkeypatch.setenv("my_kv_path", str(env_data))
    s3kv.connect("my_kv").collection("c")["k"] = "v"
    assert (env_data / "63" / "6b").is_file()
    s3kv.connect("my_kv", path=str(kwarg_data)).collection("c")["k"] = "v"
    assert (kwarg_data / "63" / "6b").is_file()
    assert not secrets_data.exists()


def test_password_and_salt_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("my_kv_mode", "local")
    monkeypatch.setenv("my_kv_path", str(tmp_path / "d"))
    monkeypatch.setenv("my_kv_password", "env-password")
    monkeypatch.setenv("my_kv_salt", "crypto-salt")
    conn = s3kv.connect("my_kv")
    db = conn.collection("c")
    assert db.encrypted
    db["k"] = "v"
    # The salt is any string, and it is needed: the same password without it fails.
    with pytest.raises(s3kv.WrongPasswordError):
        s3kv.connect("my_kv", salt="").collection("c")
    # A collection's own password beats the connection's.
    with pytest.raises(s3kv.WrongPasswordError):
        conn.collection("c", password="other")


def test_the_original_readmes_secrets_example_is_accepted(tmp_path):
    write_secrets(
        tmp_path / "work",
        "\n".join([
            "[connections.my_kv]",
            'access_key = "XXXXXXXXXXXXXXXXXXXX"',
            'secret_key = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"',
            'endpoint   = "http://127.0.0.1:9"',
            'region = "sfo3"',
            'bucket = "my-bucket-name"',
            'prefix = "something/version-1"',
            'password = "my-secret-password"',
            'salt = "crypto-salt"',
            "",
            "[connections.my_kv2]",
            'mode = "local"',
            f'path = "{tmp_path / "kv2"}"',
        ]),
    )
    s3kv.connect("my_kv2").collection("c")["k"] = "v"
    # my_kv is parsed in full; only reaching its endpoint fails (nothing listens on port 9).
    with pytest.raises(s3kv.BackendError) as caught:
        s3kv.connect("my_kv", retries=0, connect_timeout=1)
    assert "ZZZZ" not in str(caught.value)
    assert "my-secret-password" not in str(caught.value)


def test_a_bad_value_names_its_source(monkeypatch):
    monkeypatch.setenv("my_kv_mode", "ftp")
    with pytest.raises(s3kv.ConfigError, match="my_kv_mode"):
        s3kv.connect("my_kv")


def test_an_unknown_name_in_secrets_is_reported(tmp_path):
    write_secrets(tmp_path / "work", '[connections.my_kv]\nmode = "dict"\nbukket = "b"\n')
    with pytest.raises(s3kv.ConfigError, match="bukket"):
        s3kv.connect("my_kv")


def test_mode_dict_needs_nothing_else():
    db = s3kv.connect(mode="dict").collection("c")
    db["k"] = 1
    assert db["k"] == 1


def test_allow_pickle_comes_from_the_environment_or_secrets(tmp_path, monkeypatch):
    """On S3, unauthenticated pickles are refused unless allow_pickle is set, and the setting
    may come from the environment or secrets as well as from the collection."""
    from conftest import s3_kwargs

    kwargs = s3_kwargs()
    if kwargs is None:
        pytest.skip("no S3 server configured")
    s3kv.connect(**kwargs).collection("pickles")["obj"] = {"a": 1}
    with pytest.raises(s3kv.UnsupportedError, match="allow_pickle"):
        s3kv.connect(**kwargs).collection("pickles")["obj"]

    monkeypatch.setenv("my_kv_allow_pickle", "true")
    assert s3kv.connect("my_kv", **kwargs).collection("pickles")["obj"] == {"a": 1}
    refused = s3kv.connect("my_kv", **kwargs).collection("pickles", allow_pickle=False)
    with pytest.raises(s3kv.UnsupportedError):
        refused["obj"]
    monkeypatch.delenv("my_kv_allow_pickle")

    write_secrets(tmp_path / "work", "[connections.my_kv]\nallow_pickle = true\n")
    assert s3kv.connect("my_kv", **kwargs).collection("pickles")["obj"] == {"a": 1}
    monkeypatch.setenv("my_kv_allow_pickle", "sometimes")
    with pytest.raises(s3kv.ConfigError, match="allow_pickle"):
        s3kv.connect("my_kv", **kwargs).collection("pickles")
