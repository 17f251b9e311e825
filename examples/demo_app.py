"""The s3kv demo: what the original library's simple_app.py and demo_app.py did, offline.

Run it with `cargo xtask demo` (or `streamlit run demo_app.py` from this folder). Its settings
are in `.streamlit/secrets.toml` under `[connections.s3kv_demo]`: a local folder by default.
"""

import io
import time

import numpy as np
import streamlit as st
from PIL import Image

from s3kv import S3KV

st.set_page_config(page_title="s3kv demo", layout="wide")
st.title("s3kv demo")

conn = st.connection("s3kv_demo", type=S3KV)
db = conn.collection("examples", "password-to-this-collection")
images = conn.collection("demo_images")
ss = st.session_state

st.caption(f"Data lives in {conn.describe()}. Collection `examples` is encrypted.")

# --- The original simple_app.py: any Python value goes in, the same value comes out. ---
st.header("Any value")
db["key1"] = "🎈"
db["key2"] = {"name": "Boaty McBoatface", "launched": 2017}
db["key3"] = np.array([42, 2501, 1337])
db["key4"] = lambda x: f"Hello {x}!"

c1, c2, c3 = st.columns(3)
c1.write("text")
c1.write(db["key1"])
c2.write("dict")
c2.write(db["key2"])
c3.write("numpy array")
c3.write(db["key3"])
st.write("a function, called with the dict's name:")
st.write(db["key4"](db["key2"]["name"]))
del db["key3"]
st.write("keys after deleting key3:", db.keys())


# --- The original demo_app.py, with pictures made here instead of fetched. ---
def make_picture(seed: int) -> bytes:
    """A 300x300 PNG drawn from `seed`: colour bands and noise, no network needed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:300, 0:300]
    base = rng.integers(0, 256, size=3)
    freq = rng.uniform(0.01, 0.08, size=3)
    channels = [(base[i] + 127 * np.sin(freq[i] * (x + y * (i + 1)))) % 256 for i in range(3)]
    pixels = np.stack(channels, axis=-1) + rng.normal(0, 12, size=(300, 300, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


st.header("Pictures")
KEYS = list(range(1, 100))
c1, c2, c3 = st.columns(3)
c1.subheader("Make a picture")
c2.subheader("Store it")
c3.subheader("Load one")
with c1:
    # Handled before the store column is drawn, so its widgets are enabled in the same run.
    if st.button("make a random picture"):
        ss["seed"] = int(time.time_ns() % 1_000_000)
        ss["image1"] = make_picture(ss["seed"])
    if "image1" in ss:
        st.image(ss["image1"], caption=f"picture {ss['seed']}")
key1 = c2.selectbox("Key to store under", KEYS, key="key1", disabled="image1" not in ss)
key2 = c3.selectbox("Key to load", KEYS, key="key2")
with c2:
    if st.button("save picture in DB", disabled="image1" not in ss):
        images[str(key1)] = ss["image1"]
        st.success(f"saved under key {key1}")
with c3:
    if st.button("load picture from DB"):
        ss["image2"] = images.get(str(key2))
        if ss["image2"] is None:
            st.warning(f"no picture under key {key2}")
    if ss.get("image2"):
        st.image(ss["image2"], caption=f"loaded from key {key2}")

# --- Text notes. ---
st.header("Notes")
notes = conn.collection("demo_notes", "password-to-this-collection")
c1, c2 = st.columns(2)
with c1:
    note_key = st.text_input("Note name", value="hello")
    note_text = st.text_area("Note text", value="Stored encrypted and compressed.")
    if st.button("save note"):
        notes[note_key] = note_text
        st.success(f"saved note {note_key!r}")
with c2:
    load_key = st.selectbox("Note to load", notes.keys(), key="note_key")
    if st.button("load note") and load_key is not None:
        ss["note"] = notes.get(load_key)
    if "note" in ss:
        st.text(ss["note"])

# --- Listing and deleting keys. ---
st.header("Keys")
which = st.radio("Collection", ["demo_images", "demo_notes"], horizontal=True)
target = images if which == "demo_images" else notes
keys = target.keys()
st.write(f"{len(keys)} keys:", keys)
doomed = st.selectbox("Key to delete", keys, key="doomed")
if st.button("delete key", disabled=doomed is None):
    del target[doomed]
    st.rerun()

# --- The original README's quick demonstration: a 100 MB string, stored and read back. ---
st.header("Quick demonstration")
st.write("Stores `'1234567890' * 10_000_000` (100 MB) and reads it back.")
if st.button("run the 100 MB demonstration"):
    big = conn.collection("my-collection")
    value = "1234567890" * 10_000_000
    started = time.perf_counter()
    big["my-key"] = value
    stored = time.perf_counter()
    back = big["my-key"]
    read = time.perf_counter()
    st.write(f"length read back: {len(back)}")
    st.write(f"first 100 characters: {back[:100]}")
    st.write(f"write {stored - started:.2f} s, read {read - stored:.2f} s")
    del value, back
