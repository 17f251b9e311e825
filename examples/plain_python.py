"""s3kv from plain Python: the same dict in memory, in a local folder, or on S3.

Run: .venv/bin/python examples/plain_python.py [folder]  (the virtualenv `cargo xtask demo` or
`cargo xtask test` made)
"""

import sys
import tempfile

import s3kv


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="s3kv-example-")
    conn = s3kv.connect(mode="local", path=folder)
    db = conn.collection("examples", password="secret")

    db["k"] = {"a": 1}
    db["greeting"] = "hello"
    db["raw"] = b"\x00\x01\x02"
    print("k =", db["k"])
    print("'k' in db:", "k" in db)
    print("len:", len(db), "keys:", list(db))
    del db["k"]
    print("after delete, get('k', 'gone') =", db.get("k", "gone"))

    # Batches run with several requests in flight; keys(prefix=...) lists part of the collection.
    db.set_many({f"photos/{n}.txt": f"photo {n}" for n in range(5)})
    print("photos:", db.keys(prefix="photos/"))
    print("two of them:", db.get_many(["photos/0.txt", "photos/4.txt"]))
    print("first writer wins:", db.set_if_absent("lock", "me"), db.set_if_absent("lock", "you"))
    info = db.info("photos/0.txt")
    sealed = "encrypted" if info.encrypted else "not encrypted"
    print(f"stored {info.stored_size} bytes for {info.plain_size} plain, {info.kind}, {sealed}")

    # Files go in and out as bytes; progress= takes a callable or True for a bar.
    source = f"{folder}/example-file.bin"
    with open(source, "wb") as file:
        file.write(bytes(range(256)) * 4096)
    db.put_file("file", source, progress=lambda done, total: None)
    db.get_file("file", f"{folder}/example-file.copy")

    # Plain data that other languages can read: one collection per serializer.
    shared = conn.collection("shared", password="secret", serializer="cbor")
    shared["point"] = {"x": 1, "y": [2.5, None]}
    print("cbor value:", shared["point"])

    try:
        conn.collection("examples", password="not the password")
    except s3kv.WrongPasswordError as error:
        print("wrong password is caught when the collection opens:", error)
    print("data is in", folder)


if __name__ == "__main__":
    main()
