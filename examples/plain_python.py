"""s3kv from plain Python: the same dict in memory, in a local folder, or on S3.

Run: python examples/plain_python.py [folder]
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

    try:
        conn.collection("examples", password="not the password")
    except s3kv.WrongPasswordError as error:
        print("wrong password is caught when the collection opens:", error)
    print("data is in", folder)


if __name__ == "__main__":
    main()
