"""The original library's storage pipeline, re-implemented from its format description.

Written from ``reference/legacy-format.md`` (no code of the original is copied), so the
comparison measures what its users run today: cloudpickle, then zlib at the default level,
then PKCS#7 padding and AES-256 in ECB mode with a key that is BLAKE2s of the password.
On S3 it makes one request at a time through boto3 and checks that a key exists (HEAD)
before reading it (GET); it lists with one call, so at most 1000 names.
On a folder it writes one file per value, in place.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from typing import Any, List, Optional

import cloudpickle
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

BLOCK = 16


def derive_key(password: str, salt_hex: str = "") -> Optional[bytes]:
    """The one AES key of every collection: BLAKE2s of the password, or None without one."""
    if not password:
        return None
    salt = bytes.fromhex(salt_hex) if salt_hex else b""
    return hashlib.blake2s(
        password.encode("utf-8"), digest_size=32, person=b"passwd", salt=salt
    ).digest()


def encode(value: Any, key: Optional[bytes]) -> bytes:
    """Value to stored bytes, in the original's write order."""
    data = zlib.compress(cloudpickle.dumps(value))
    if key is None:
        return data
    return AES.new(key, AES.MODE_ECB).encrypt(pad(data, BLOCK))


def decode(stored: bytes, key: Optional[bytes]) -> Any:
    """Stored bytes to the value, reversing :func:`encode`."""
    if key is not None:
        stored = unpad(AES.new(key, AES.MODE_ECB).decrypt(stored), BLOCK)
    return cloudpickle.loads(zlib.decompress(stored))


def hex_name(name: str) -> str:
    """Collection and key names as the original writes them: UTF-8, then lowercase hex."""
    return name.encode("utf-8").hex()


class S3Collection:
    """One collection on S3, one boto3 request at a time, as the original does."""

    def __init__(self, client: Any, bucket: str, prefix: str, name: str, password: str) -> None:
        self.client = client
        self.bucket = bucket
        self.base = f"{prefix}/{hex_name(name)}/"
        self.key = derive_key(password)

    def __setitem__(self, key: str, value: Any) -> None:
        body = encode(value, self.key)
        self.client.put_object(Bucket=self.bucket, Key=self.base + hex_name(key), Body=body)

    def get(self, key: str, default: Any = None) -> Any:
        name = self.base + hex_name(key)
        # The original asks whether the key exists before reading it, and swallows every error.
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
            return decode(body, self.key)
        except Exception:  # noqa: BLE001 - the original's behaviour, kept on purpose
            return default

    def keys(self) -> List[str]:
        # One list call, as the original makes: it stops at the first page of 1000 names.
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.base)
        names = [item["Key"][len(self.base) :] for item in answer.get("Contents", [])]
        return [bytes.fromhex(name).decode("utf-8") for name in names]


class FolderCollection:
    """One collection in a local folder: one file per value, written in place."""

    def __init__(self, path: str, name: str, password: str) -> None:
        self.dir = os.path.join(path, hex_name(name))
        os.makedirs(self.dir, exist_ok=True)
        self.key = derive_key(password)

    def __setitem__(self, key: str, value: Any) -> None:
        with open(os.path.join(self.dir, hex_name(key)), "wb") as file:
            file.write(encode(value, self.key))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            with open(os.path.join(self.dir, hex_name(key)), "rb") as file:
                return decode(file.read(), self.key)
        except Exception:  # noqa: BLE001 - the original's behaviour, kept on purpose
            return default

    def keys(self) -> List[str]:
        return [bytes.fromhex(name).decode("utf-8") for name in os.listdir(self.dir)]
