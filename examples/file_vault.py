"""A file vault on s3kv: upload files, list them with their sizes, download or delete one.

Run it from this folder with `streamlit run file_vault.py`. Its settings are in
`.streamlit/secrets.toml` under `[connections.s3kv_vault]` (a local folder, `vault-data`, by
default); the `password` there encrypts every file. Each file is stored under its own name.
"""

import streamlit as st

import s3kv
from s3kv import S3KV

st.set_page_config(page_title="s3kv file vault")
st.title("s3kv file vault")

conn = st.connection("s3kv_vault", type=S3KV)
vault = conn.collection("vault_files")
ss = st.session_state

state = "encrypted" if vault.encrypted else "not encrypted: set `password` in the settings"
st.caption(f"Files live in {conn.describe()}, {state}.")

# Messages from the run that changed the vault, shown once after the rerun it asked for.
if "vault_message" in ss:
    st.success(ss.pop("vault_message"))
for problem in ss.pop("vault_errors", []):
    st.error(problem)

# --- Store: each uploaded file under its own name, replacing a file of that name. ---
st.header("Store files")
uploads = st.file_uploader("Files to store", accept_multiple_files=True, key="uploads")
if st.button("store files", disabled=not uploads):
    stored, problems = [], []
    for upload in uploads or []:
        try:
            size = vault.put_file(upload.name, upload, progress=True)
        except s3kv.Error as error:
            problems.append(f"could not store {upload.name!r}: {error}")
        else:
            stored.append(f"{upload.name} ({size} bytes)")
    if stored:
        ss["vault_message"] = "stored " + ", ".join(stored)
    ss["vault_errors"] = problems
    st.rerun()

# --- List: every stored file with its size. ---
st.header("Stored files")
names = vault.keys()
if not names:
    st.info("The vault is empty.")
else:
    rows = []
    for name in names:
        try:
            info = vault.info(name)
        except s3kv.NotFoundError:
            continue  # deleted by someone else since the listing
        rows.append(
            {
                "file": name,
                "size (bytes)": info.plain_size,
                "stored (bytes)": info.stored_size,
                "last modified (UTC)": info.last_modified,
            }
        )
    st.dataframe(rows, hide_index=True)

    # --- Download or delete one file. ---
    chosen = st.selectbox("File", names, key="chosen")
    if chosen is not None:
        content = vault.get(chosen)
        if isinstance(content, (bytes, str)):
            st.download_button(f"download {chosen}", data=content, file_name=chosen)
        if st.button(f"delete {chosen}", key="delete"):
            try:
                del vault[chosen]
            except s3kv.NotFoundError:
                ss["vault_message"] = f"{chosen} was already gone"
            else:
                ss["vault_message"] = f"deleted {chosen}"
            st.rerun()
