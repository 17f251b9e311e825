"""Make the objects the original st_s3kv_connection wrote to S3 with its default empty prefix
readable by s3kv.

The original stored a value at the object key ``<prefix>/<hex collection>/<hex key>``, so with
the default empty prefix every key starts with ``/`` (``/6578616d706c6573/6b657931``). s3kv
reads and writes the same names without that leading ``/``, and cannot reach such keys itself.
This script copies each of them (a server-side copy, the bytes unchanged) to the name s3kv
uses, where s3kv then reads it as the original library's value. A name that already exists
there (s3kv wrote it since) is left alone, and the original objects are kept unless
``--delete-originals`` is given.

Needs boto3 (``pip install boto3``); credentials and endpoint as for boto3, or as options.

Run: python examples/adopt_original_objects.py BUCKET [--endpoint URL] [--collection NAME]
     [--region REGION] [--access-key KEY --secret-key SECRET] [--delete-originals] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional

import boto3
from botocore.exceptions import ClientError


def leading_slash_objects(client: Any, bucket: str, collection: Optional[str]) -> List[str]:
    """The keys under ``/`` (or under ``/<hex collection>/``) that look like the original's."""
    prefix = "/" if collection is None else f"/{collection.encode().hex()}/"
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            parts = item["Key"][1:].split("/")
            if len(parts) == 2 and all(_is_hex(part) for part in parts):
                keys.append(item["Key"])
    return keys


def _is_hex(name: str) -> bool:
    return bool(name) and len(name) % 2 == 0 and all(c in "0123456789abcdef" for c in name)


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def adopt(
    client: Any,
    bucket: str,
    collection: Optional[str] = None,
    delete_originals: bool = False,
    dry_run: bool = False,
) -> Dict[str, int]:
    """Copies every original object to the name s3kv uses; returns what it did, counted."""
    counts = {"copied": 0, "already there": 0, "deleted": 0}
    for key in leading_slash_objects(client, bucket, collection):
        target = key[1:]
        if _exists(client, bucket, target):
            counts["already there"] += 1
        else:
            if not dry_run:
                client.copy_object(
                    Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key}
                )
            counts["copied"] += 1
        if delete_originals and not dry_run:
            client.delete_object(Bucket=bucket, Key=key)
            counts["deleted"] += 1
    return counts


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bucket")
    parser.add_argument("--endpoint", help="S3 endpoint URL; AWS when not given")
    parser.add_argument("--region")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    parser.add_argument("--collection", help="only this collection (its name, not its hex)")
    parser.add_argument("--delete-originals", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    args = parser.parse_args(argv)
    client = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
    )
    counts = adopt(client, args.bucket, args.collection, args.delete_originals, args.dry_run)
    print(", ".join(f"{name}: {count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
