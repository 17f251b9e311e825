"""The demo app end to end: `streamlit run` on loopback, driven by a real headless Chromium.

AppTest (test_streamlit.py) runs the script without a browser; this test goes through the
server, the websocket and the page a person sees: make a picture, store it under a key, load it
back and see it; save a note, load it back and read it. Screenshots of each step land in
`test-artifacts/browser/`.

The browser is the one named by S3KV_CHROMIUM (`cargo xtask test` installs Debian's Chromium
and sets it). Without it the test fails under `cargo xtask test` (S3KV_REQUIRE_S3 set) and is
skipped elsewhere.
"""

import io
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest

import s3kv

REPO = pathlib.Path(__file__).resolve().parents[3]
DEMO = REPO / "examples" / "demo_app.py"
ARTIFACTS = REPO / "test-artifacts" / "browser"
HOST = "127.0.0.1"

#: Bounds on waiting: for the server to answer, and for the page after each action.
SERVER_START_SECONDS = 90
PAGE_TIMEOUT_MS = 60_000

#: Flags that keep Chromium from contacting anything but the app on loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str):
    """Fail inside `cargo xtask test`, which promises a browser; skip anywhere else."""
    if os.environ.get("S3KV_REQUIRE_S3"):
        pytest.fail(f"{reason} (cargo xtask test installs it and sets S3KV_CHROMIUM)")
    pytest.skip(reason)


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("S3KV_CHROMIUM")
    if not path:
        unavailable("S3KV_CHROMIUM is not set, so there is no browser to drive")
    if not os.path.isfile(path):
        unavailable(f"S3KV_CHROMIUM names {path}, which does not exist")
    return path


@pytest.fixture
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (it is pinned in requirements-dev.txt)")
    with sync_playwright() as driver:
        yield driver


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, url: str, log: pathlib.Path):
    """Polls Streamlit's health endpoint until it answers "ok", within SERVER_START_SECONDS."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    last_error = None
    for _ in range(SERVER_START_SECONDS * 4):
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    pytest.fail(
        f"streamlit did not answer {url}/_stcore/health within {SERVER_START_SECONDS} s "
        f"({last_error}):\n{log.read_text()[-3000:]}"
    )


@pytest.fixture
def demo_server(tmp_path):
    """The demo app served on a free loopback port from a folder of its own; yields (url, data).

    The script is copied into an empty folder, so no `.streamlit/` of the repository (or of the
    real home folder) is read: the connection's settings come only from the environment.
    """
    work = tmp_path / "app"
    work.mkdir()
    shutil.copy(DEMO, work / DEMO.name)
    data = tmp_path / "demo-data"
    home = tmp_path / "server-home"
    home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().startswith(("s3kv_demo", "streamlit_"))
    }
    env.update(HOME=str(home), s3kv_demo_mode="local", s3kv_demo_path=str(data))
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", DEMO.name,
                "--server.address", HOST,
                "--server.port", str(port),
                "--server.headless", "true",
                "--server.fileWatcherType", "none",
                "--browser.gatherUsageStats", "false",
            ],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(process, url, log)
        yield url, data
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / "streamlit.log")


def select(page, label: str, option: str):
    """Chooses `option` in the Streamlit selectbox labelled `label`."""
    from playwright.sync_api import expect

    combobox = page.get_by_role("combobox", name=label, exact=True)
    combobox.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(combobox).to_have_value(option, timeout=PAGE_TIMEOUT_MS)


def mean_difference(encoded_a: bytes, encoded_b: bytes, mirror: bool = False) -> float:
    """The mean absolute difference of two same-sized pictures' RGB values, 0 to 255; with
    `mirror`, the second picture is flipped left to right first."""
    import numpy as np
    from PIL import Image

    a, b = (
        np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"), dtype=np.int16)
        for encoded in (encoded_a, encoded_b)
    )
    assert a.shape == b.shape, f"pictures of different sizes: {a.shape} and {b.shape}"
    if mirror:
        b = b[:, ::-1]
    return float(np.abs(a - b).mean())


def click(page, label: str):
    page.get_by_role("button", name=label, exact=True).click()


def test_a_browser_stores_and_loads_a_picture_and_a_note(
    chromium_path, playwright, demo_server, tmp_path
):
    url, data = demo_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside = []
    browser = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
    )
    try:
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        # Whatever the page asks of another host is refused and remembered.
        def only_loopback(route):
            if urlparse(route.request.url).hostname == HOST:
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)

        page.goto(url)
        page.get_by_test_id("stApp").wait_for()
        page.get_by_role("heading", name="s3kv demo").wait_for()
        page.get_by_text("keys after deleting key3:").wait_for()
        page.screenshot(path=ARTIFACTS / "1-loaded.png", full_page=True)

        # Make a picture: it is shown with its caption.
        click(page, "make a random picture")
        made = page.get_by_test_id("stImage").filter(has_text="picture ")
        made.wait_for()

        # Store it under key 7.
        select(page, "Key to store under", "7")
        click(page, "save picture in DB")
        saved = page.get_by_text("saved under key 7")
        saved.wait_for()
        saved.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "2-picture-stored.png", full_page=True)

        # Load key 7: the page shows it, and the image it shows is the stored PNG.
        select(page, "Key to load", "7")
        click(page, "load picture from DB")
        loaded = page.get_by_test_id("stImage").filter(has_text="loaded from key 7")
        loaded.wait_for()
        image = loaded.locator("img")
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size == [300, 300]
        shown = page.request.get(image.get_attribute("src"))
        assert shown.ok
        stored_picture = s3kv.connect(mode="local", path=str(data)).collection("demo_images")["7"]
        assert stored_picture.startswith(b"\x89PNG")
        # Streamlit re-encodes pictures it shows (as JPEG here), so compare pixels, not bytes:
        # the shown picture is the stored one up to compression noise, which is far less than
        # its difference from the same picture mirrored (an unrelated picture of the same kind).
        same = mean_difference(shown.body(), stored_picture)
        mirrored = mean_difference(shown.body(), stored_picture, mirror=True)
        assert same < 25 and same * 3 < mirrored, (same, mirrored)
        loaded.screenshot(path=ARTIFACTS / "3-picture-loaded.png")
        page.screenshot(path=ARTIFACTS / "3-page-with-picture.png", full_page=True)

        # Save a note, then load it back: its text appears on the page.
        note = "written by a real browser at " + time.strftime("%H:%M:%S")
        name_box = page.get_by_label("Note name")
        name_box.fill("browser-note")
        name_box.press("Enter")
        text_box = page.get_by_label("Note text")
        text_box.fill(note)
        text_box.press("Control+Enter")
        click(page, "save note")
        page.get_by_text("saved note 'browser-note'").wait_for()
        select(page, "Note to load", "browser-note")
        click(page, "load note")
        shown_note = page.get_by_test_id("stText").filter(has_text=note)
        shown_note.wait_for()
        shown_note.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "4-note-loaded.png", full_page=True)

        notes = s3kv.connect(mode="local", path=str(data)).collection(
            "demo_notes", "password-to-this-collection"
        )
        assert notes["browser-note"] == note
        assert outside == [], f"the page asked for other hosts: {outside}"
    except Exception:
        if browser.pages:
            browser.pages[0].screenshot(path=ARTIFACTS / "failure.png", full_page=True)
        raise
    finally:
        browser.close()
