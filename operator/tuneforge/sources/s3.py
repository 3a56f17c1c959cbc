"""s3:// sources and outputs on any S3-compatible endpoint (AWS, MinIO, Ceph, R2), through boto3.

Downloads land in the shared model cache, keyed by endpoint, bucket and prefix. Each file is
fetched into a `.part` file and resumed with a Range request after a crash; the object's ETag is
pinned with If-Match so a resumed file cannot mix two versions. A state file beside the folder
remembers the ETag of every finished file, so a second job with the same source makes one LIST
request and no GET. A lock serialises jobs that share the cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.sources import SecretRef, secret_env
from ..errors import SourceError
from .cache import cache_root, locked

CHUNK = 1 << 20


@dataclass(frozen=True)
class Object:
    key: str
    size: int
    etag: str


def split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def _secret(ref: SecretRef | None, key: str) -> str | None:
    return os.environ.get(secret_env(ref.name, key)) if ref is not None else None


def endpoint(ref: SecretRef | None) -> str | None:
    """The Secret's AWS_ENDPOINT_URL, else the environment's (boto3's own variable), else AWS."""
    return _secret(ref, "AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(ref: SecretRef | None) -> Any:
    """A client with the Secret's keys when a secretRef is given, else boto3's usual chain
    (environment, web identity / IRSA, instance profile)."""
    import boto3
    from botocore.config import Config

    url = endpoint(ref)
    region = _secret(ref, "AWS_DEFAULT_REGION") or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    # Stores other than AWS rarely serve virtual-hosted bucket names.
    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                    s3={"addressing_style": "path"} if url else None)
    return boto3.client("s3", endpoint_url=url, region_name=region or "us-east-1", config=config,
                        aws_access_key_id=_secret(ref, "AWS_ACCESS_KEY_ID"),
                        aws_secret_access_key=_secret(ref, "AWS_SECRET_ACCESS_KEY"),
                        aws_session_token=_secret(ref, "AWS_SESSION_TOKEN"))


def explain(uri: str, exc: Exception, ref: SecretRef | None) -> SourceError:
    """A message a user can act on. botocore's messages carry no credentials, only codes and names."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return SourceError(f"{uri}: no S3 credentials; set secretRef to a Secret with AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY (or give the pod a cloud identity)")
    if isinstance(exc, EndpointConnectionError):
        return SourceError(f"{uri}: cannot reach the S3 endpoint {endpoint(ref) or 'of AWS'}")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            return SourceError(f"{uri}: the bucket does not exist")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            who = f"the keys in Secret {ref.name}" if ref else "the pod's credentials"
            return SourceError(f"{uri}: access denied ({code}); check {who}")
        return SourceError(f"{uri}: S3 error {code}: {exc.response.get('Error', {}).get('Message', '')}")
    return SourceError(f"{uri}: {type(exc).__name__}: {exc}")


def listing(s3: Any, uri: str) -> list[Object]:
    """The object at `uri`, or every object under it as a folder."""
    bucket, prefix = split(uri)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not prefix or key == prefix or key.startswith(prefix + "/"):
                found.append(Object(key, item["Size"], item["ETag"].strip('"')))
    return found


def cache_dir(uri: str, ref: SecretRef | None) -> Path:

    bucket, prefix = split(uri)
    where = hashlib.sha256((endpoint(ref) or "aws").encode()).hexdigest()[:8]
    # One flat entry per URI: a folder and an object inside it (s3://b/m, s3://b/m/config.json) must
    # not share paths.
    name = f"{prefix.rsplit('/', 1)[-1] or 'bucket'}-{hashlib.sha256(prefix.encode()).hexdigest()[:8]}"
    return cache_root() / "s3" / where / bucket / name


def download(uri: str, ref: SecretRef | None = None) -> Path:
    """A local copy of the object or folder at `uri` in the shared cache; unchanged files are reused."""

    try:
        s3 = client(ref)
        objects = listing(s3, uri)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message naming the URI
        raise explain(uri, exc, ref) from None
    if not objects:
        raise SourceError(f"{uri}: no object at or under this location")
    bucket, prefix = split(uri)
    folder = cache_dir(uri, ref)
    single = len(objects) == 1 and objects[0].key == prefix
    wanted = {(obj.key.rsplit("/", 1)[-1] if single else obj.key[len(prefix):].lstrip("/")): obj for obj in objects}
    state_file = folder.with_name(folder.name + ".s3.json")
    with locked(folder):
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        for rel, obj in sorted(wanted.items()):
            dest = folder / rel
            # Object keys are arbitrary strings: one with '..' or a leading '/' must not write outside.
            if not dest.resolve().is_relative_to(folder.resolve()) or not rel:
                raise SourceError(f"s3://{bucket}/{obj.key}: this object's key leads outside {uri}; refusing it")
            if state.get(rel) == obj.etag and dest.is_file() and dest.stat().st_size == obj.size:
                continue
            try:
                fetch(s3, bucket, obj, dest)
            except SourceError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise explain(f"s3://{bucket}/{obj.key}", exc, ref) from None
            state[rel] = obj.etag
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=1))
            os.replace(tmp, state_file)
    return folder / next(iter(wanted)) if single else folder


def fetch(s3: Any, bucket: str, obj: Object, dest: Path) -> None:
    """One object into `dest`, continuing a `.part` file left by an interrupted attempt."""
    from botocore.exceptions import ClientError

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > obj.size:
        part.unlink()
        have = 0
    if have < obj.size:
        extra = {"Range": f"bytes={have}-"} if have else {}
        try:
            # Quoted, as RFC 9110 writes entity tags (ETags are listed with their quotes stripped).
            body = s3.get_object(Bucket=bucket, Key=obj.key, IfMatch=f'"{obj.etag}"', **extra)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise
            # Changed since it was listed: the part belongs to an older version.
            part.unlink(missing_ok=True)
            raise SourceError(f"s3://{bucket}/{obj.key}: changed while it was being downloaded; run the job again") from None
        with open(part, "ab") as handle:
            for chunk in body.iter_chunks(CHUNK):
                handle.write(chunk)
    if part.stat().st_size != obj.size:
        raise SourceError(f"s3://{bucket}/{obj.key}: download stopped at {part.stat().st_size} of {obj.size} bytes; "
                          "running the job again continues it")
    if have and "-" not in obj.etag and _md5(part) != obj.etag:
        # A resumed file is checked whole: a single-part ETag is the object's MD5.
        part.unlink()
        raise SourceError(f"s3://{bucket}/{obj.key}: the resumed download does not match the object; "
                          "running the job again fetches it from the start")
    os.replace(part, dest)


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def exists(uri: str, ref: SecretRef | None, name: str) -> bool:
    bucket, prefix = split(uri)
    try:
        s3 = client(ref)
        s3.head_object(Bucket=bucket, Key=f"{prefix}/{name}" if prefix else name)
        return True
    except Exception as exc:  # noqa: BLE001
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise explain(uri, exc, ref) from None


def upload(folder: Path, uri: str, ref: SecretRef | None, last: str) -> int:
    """Every file of `folder` under `uri` (multipart above 8 MiB, in parallel parts), `last` at the
    end so a reader that sees it sees a complete output. Returns the number of files."""
    from boto3.s3.transfer import TransferConfig

    bucket, prefix = split(uri)
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix() == last)
    config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
    try:
        s3 = client(ref)
        for path in files:
            rel = path.relative_to(folder).as_posix()
            s3.upload_file(str(path), bucket, f"{prefix}/{rel}" if prefix else rel, Config=config)
    except Exception as exc:  # noqa: BLE001
        raise explain(uri, exc, ref) from None
    return len(files)


def put_file(path: Path, uri: str, ref: SecretRef | None) -> None:
    """One local file to the object at `uri`."""
    bucket, key = split(uri)
    try:
        client(ref).upload_file(str(path), bucket, key)
    except Exception as exc:  # noqa: BLE001
        raise explain(uri, exc, ref) from None


def delete_prefix(uri: str, ref: SecretRef | None) -> int:
    """Delete every object at or under `uri` (an old checkpoint); returns how many."""
    bucket, _prefix = split(uri)
    try:
        s3 = client(ref)
        keys = [{"Key": obj.key} for obj in listing(s3, uri)]
        for start in range(0, len(keys), 1000):  # the API's limit per request
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
    except Exception as exc:  # noqa: BLE001
        raise explain(uri, exc, ref) from None
    return len(keys)
