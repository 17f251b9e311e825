"""The clients compared, each behind the same small interface.

A client stores values under string keys in one place (an S3 prefix or a folder) and offers
``put``, ``get``, ``put_many``, ``get_many`` and ``keys``.
Every client is used the way its own users use it; batches run ``IN_FLIGHT`` requests at once,
the number s3kv itself uses by default, through the peer's async API or a thread pool.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional

import legacy

# s3kv's default `max_in_flight`; the peers' batches get the same number of requests at once.
IN_FLIGHT = 16

# The password of the encrypting clients; the benchmark stores nothing secret.
PASSWORD = "benchmark password"

COLLECTION = "bench"

# What each client needs installed, and which backends it can use.
CLIENTS = {
    "s3kv": {"module": "s3kv", "backends": ("s3", "fs")},
    "legacy": {"module": "Crypto", "backends": ("s3", "fs")},
    "boto3": {"module": "boto3", "backends": ("s3",)},
    "obstore": {"module": "obstore", "backends": ("s3", "fs")},
    "s3ec": {"module": "s3_encryption", "backends": ("s3",)},
}

DESCRIPTIONS = {
    "s3kv": "s3kv (Python package, AES-256-GCM + zstd, password)",
    "legacy": "original pipeline (cloudpickle, zlib, AES-ECB, boto3 HEAD+GET)",
    "boto3": "boto3 (plain bytes)",
    "obstore": "obstore (plain bytes)",
    "s3ec": "AWS S3 Encryption Client (AES-GCM, KMS on moto)",
}


def unavailable(client: str, backend: "Backend") -> Optional[str]:
    """Why ``client`` cannot run on ``backend``, or None when it can."""
    spec = CLIENTS[client]
    if backend.kind not in spec["backends"]:
        return f"{client} has no {backend.kind} backend"
    if importlib.util.find_spec(spec["module"]) is None:
        return f"Python package {spec['module']!r} is not installed (requirements-bench.txt)"
    if client == "s3ec" and not backend.kms_endpoint:
        return "no KMS endpoint (S3KV_TEST_ENDPOINT names none)"
    return None


class Backend:
    """Where a client stores: an S3 bucket and prefix, or a folder."""

    def __init__(self, name: str, settings: Dict[str, str]) -> None:
        self.name = name
        self.kind = settings["kind"]
        self.settings = settings
        self.kms_endpoint = settings.get("kms_endpoint", "")

    def boto3_client(self, service: str = "s3", endpoint: Optional[str] = None) -> Any:
        import boto3
        import botocore.config

        config = botocore.config.Config(
            max_pool_connections=2 * IN_FLIGHT,
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
        )
        return boto3.client(
            service,
            endpoint_url=endpoint or self.settings["endpoint"],
            aws_access_key_id=self.settings["access_key"],
            aws_secret_access_key=self.settings["secret_key"],
            region_name=self.settings["region"],
            config=config,
        )


def open_client(client: str, backend: Backend, prefix: str) -> "Client":
    """A client of kind ``client`` storing under ``prefix`` of ``backend``."""
    kinds = {
        "s3kv": S3kvClient,
        "legacy": LegacyClient,
        "boto3": Boto3Client,
        "obstore": ObstoreClient,
        "s3ec": S3ecClient,
    }
    return kinds[client](backend, prefix)


class Client:
    """What every compared client offers."""

    batched = True

    def put(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def get(self, key: str) -> Any:
        raise NotImplementedError

    def put_many(self, items: Dict[str, Any]) -> None:
        raise NotImplementedError

    def get_many(self, keys: List[str]) -> Dict[str, Any]:
        raise NotImplementedError

    def keys(self) -> List[str]:
        raise NotImplementedError


def as_body(value: Any) -> bytes:
    """What a plain client uploads: bytes as they are, text as UTF-8."""
    return value.encode("utf-8") if isinstance(value, str) else value


class S3kvClient(Client):
    """s3kv through its Python package: an encrypted, compressed collection."""

    def __init__(self, backend: Backend, prefix: str) -> None:
        import s3kv

        settings = backend.settings
        if backend.kind == "s3":
            conn = s3kv.connect(
                mode="s3",
                endpoint=settings["endpoint"],
                bucket=settings["bucket"],
                access_key=settings["access_key"],
                secret_key=settings["secret_key"],
                region=settings["region"],
                prefix=prefix,
            )
        else:
            conn = s3kv.connect(mode="local", path=os.path.join(settings["path"], prefix))
        self.db = conn.collection(COLLECTION, password=PASSWORD)

    def put(self, key: str, value: Any) -> None:
        self.db[key] = value

    def get(self, key: str) -> Any:
        return self.db[key]

    def put_many(self, items: Dict[str, Any]) -> None:
        self.db.set_many(items)

    def get_many(self, keys: List[str]) -> Dict[str, Any]:
        return self.db.get_many(keys)

    def keys(self) -> List[str]:
        return self.db.keys()


class LegacyClient(Client):
    """The original library's pipeline; it has no batch calls, so it has no batched case."""

    batched = False

    def __init__(self, backend: Backend, prefix: str) -> None:
        if backend.kind == "s3":
            client = backend.boto3_client()
            self.db = legacy.S3Collection(
                client, backend.settings["bucket"], prefix, COLLECTION, PASSWORD
            )
        else:
            path = os.path.join(backend.settings["path"], prefix)
            self.db = legacy.FolderCollection(path, COLLECTION, PASSWORD)

    def put(self, key: str, value: Any) -> None:
        self.db[key] = value

    def get(self, key: str) -> Any:
        return self.db.get(key)

    def keys(self) -> List[str]:
        return self.db.keys()


class Boto3Client(Client):
    """boto3 moving plain bytes; batches through a thread pool, as boto3's docs suggest."""

    def __init__(self, backend: Backend, prefix: str) -> None:
        self.client = backend.boto3_client()
        self.bucket = backend.settings["bucket"]
        self.base = f"{prefix}/"

    def put(self, key: str, value: Any) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.base + key, Body=as_body(value))

    def get(self, key: str) -> Any:
        return self.client.get_object(Bucket=self.bucket, Key=self.base + key)["Body"].read()

    def put_many(self, items: Dict[str, Any]) -> None:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            list(pool.map(lambda pair: self.put(*pair), items.items()))

    def get_many(self, keys: List[str]) -> Dict[str, Any]:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            return dict(zip(keys, pool.map(self.get, keys)))

    def keys(self) -> List[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        names: List[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base):
            names.extend(item["Key"][len(self.base) :] for item in page.get("Contents", []))
        return names


class ObstoreClient(Client):
    """obstore moving plain bytes; batches through its async API."""

    def __init__(self, backend: Backend, prefix: str) -> None:
        from obstore.store import LocalStore, S3Store

        settings = backend.settings
        if backend.kind == "s3":
            self.store = S3Store(
                settings["bucket"],
                prefix=prefix,
                endpoint=settings["endpoint"],
                access_key_id=settings["access_key"],
                secret_access_key=settings["secret_key"],
                region=settings["region"],
                virtual_hosted_style_request=False,
                client_options={"allow_http": True},
            )
        else:
            path = os.path.join(settings["path"], prefix)
            os.makedirs(path, exist_ok=True)
            self.store = LocalStore(prefix=path)

    def put(self, key: str, value: Any) -> None:
        import obstore

        obstore.put(self.store, key, as_body(value))

    def get(self, key: str) -> Any:
        import obstore

        # obstore's Bytes is a buffer; hashing and comparing read it without a copy.
        return obstore.get(self.store, key).bytes()

    def put_many(self, items: Dict[str, Any]) -> None:
        import obstore

        async def run() -> None:
            limit = asyncio.Semaphore(IN_FLIGHT)

            async def one(key: str, value: Any) -> None:
                async with limit:
                    await obstore.put_async(self.store, key, as_body(value))

            await asyncio.gather(*(one(key, value) for key, value in items.items()))

        asyncio.run(run())

    def get_many(self, keys: List[str]) -> Dict[str, Any]:
        import obstore

        async def run() -> List[Any]:
            limit = asyncio.Semaphore(IN_FLIGHT)

            async def one(key: str) -> Any:
                async with limit:
                    response = await obstore.get_async(self.store, key)
                    return await response.bytes_async()

            return await asyncio.gather(*(one(key) for key in keys))

        return dict(zip(keys, asyncio.run(run())))

    def keys(self) -> List[str]:
        import obstore

        # Pages of 1000 names, as S3 sends them; the default of 50 would only add Python calls.
        return [
            item["path"] for batch in obstore.list(self.store, chunk_size=1000) for item in batch
        ]


class S3ecClient(Boto3Client):
    """The AWS S3 Encryption Client: AES-GCM per object, data keys from KMS (moto)."""

    def __init__(self, backend: Backend, prefix: str) -> None:
        from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
        from s3_encryption.materials.kms_keyring import KmsKeyring

        super().__init__(backend, prefix)
        kms = backend.boto3_client("kms", endpoint=backend.kms_endpoint)
        # One key for the whole run: a get in another process must unwrap what a put wrapped.
        key_id = backend.settings["kms_key"]
        config = S3EncryptionClientConfig(keyring=KmsKeyring(kms, key_id))
        # The encryption client hooks into the boto3 client it wraps, so it gets its own.
        self.client = S3EncryptionClient(backend.boto3_client(), config)

    def keys(self) -> List[str]:
        raise NotImplementedError("the encryption client has no listing of its own")


def create_kms_key(backend: Backend) -> str:
    """A KMS key on the KMS server, for the encryption client's data keys."""
    kms = backend.boto3_client("kms", endpoint=backend.kms_endpoint)
    return kms.create_key(Description="s3kv benchmark")["KeyMetadata"]["Arn"]


def list_keys(count: int) -> List[str]:
    """The keys of the listing case; the same in every process, so only the count travels."""
    return [f"list-{index:06d}" for index in range(count)]


def seed_plain(backend: Backend, prefix: str, count: int, value: bytes) -> List[str]:
    """Writes ``count`` small objects that boto3, obstore and the original pipeline all list.

    Names follow the original's layout (``<prefix>/<hex collection>/<hex key>``), so the three
    clients list one and the same set; returns the keys as the original would decode them.
    """
    keys = list_keys(count)
    base = f"{prefix}/{legacy.hex_name(COLLECTION)}"
    if backend.kind == "fs":
        folder = os.path.join(backend.settings["path"], base)
        os.makedirs(folder, exist_ok=True)
        for key in keys:
            with open(os.path.join(folder, legacy.hex_name(key)), "wb") as file:
                file.write(value)
        return keys

    client = backend.boto3_client()
    bucket = backend.settings["bucket"]

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=f"{base}/{legacy.hex_name(key)}", Body=value)

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        list(pool.map(put, keys))
    return keys


def names_listed(client: str, listed: Iterable[str]) -> List[str]:
    """Keys as the seeding wrote them, from what a plain client lists (hex file names)."""
    if client in ("boto3", "obstore"):
        return [bytes.fromhex(name.rsplit("/", 1)[-1]).decode("utf-8") for name in listed]
    return list(listed)
