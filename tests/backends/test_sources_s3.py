"""s3:// sources and outputs against a real S3 protocol server (moto) on 127.0.0.1 over HTTP: folder and
single-object downloads, the warm cache, a resumed download, two jobs sharing the cache, errors, and a
real job reading its model from S3 and uploading its output (multipart) with keys from a secretRef."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
import yaml

from support import s3server
from support.builders import quantize
from support.run import tuneforge
from tuneforge import sources
from tuneforge.sources import s3
from tuneforge.api.sources import SecretRef, secret_env

REF = SecretRef(name="s3-creds")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = s3server.start(tmp_path_factory.mktemp("moto"))
    yield srv
    srv.stop()


def secret_vars(url: str) -> dict[str, str]:
    """What the operator's secretKeyRef env gives the worker for Secret s3-creds."""
    return {secret_env("s3-creds", "AWS_ACCESS_KEY_ID"): s3server.ACCESS_KEY,
            secret_env("s3-creds", "AWS_SECRET_ACCESS_KEY"): s3server.SECRET_KEY,
            secret_env("s3-creds", "AWS_ENDPOINT_URL"): url}


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    for name, value in secret_vars(server.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    return server


def bucket(server, name: str, objects: dict[str, bytes]) -> None:
    client = server.client()
    client.create_bucket(Bucket=name)
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)


def object_gets(requests: list[dict], key: str) -> list[dict]:
    return [r for r in requests if r["method"] == "GET" and r["url"].split("?")[0].endswith(f"/{key}")]


def test_folder_and_single_object_download_and_a_warm_cache_fetches_nothing(env):
    files = {"smol/config.json": b'{"model_type": "llama"}', "smol/weights.safetensors": os.urandom(3 << 20),
             "smol/tokenizer/vocab.json": b"{}", "smol-other/x": b"not part of smol/"}
    bucket(env, "models", files)
    folder = sources.fetch("s3://models/smol", None, REF)
    got = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == {k.removeprefix("smol/"): v for k, v in files.items() if k.startswith("smol/")}

    single = sources.fetch("s3://models/smol/config.json", None, REF)
    assert single.is_file() and single.read_bytes() == files["smol/config.json"]

    env.record()
    assert sources.fetch("s3://models/smol", None, REF) == folder
    requests = env.recorded()
    assert [r["method"] for r in requests] == ["GET"] and "list-type=2" in requests[0]["url"], requests


def test_an_interrupted_download_resumes_with_a_range_request(env):
    body = os.urandom(5 << 20)
    bucket(env, "resume", {"m/model.safetensors": body})
    uri = "s3://resume/m"
    part = s3.cache_dir(uri, REF) / "model.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[: 2 << 20])  # what a crash two megabytes in leaves behind

    env.record()
    folder = sources.fetch(uri, None, REF)
    gets = object_gets(env.recorded(), "m/model.safetensors")
    assert (folder / "model.safetensors").read_bytes() == body
    assert len(gets) == 1 and gets[0]["headers"].get("Range") == f"bytes={2 << 20}-", gets
    assert not part.exists()


def test_a_resumed_download_that_does_not_match_is_refetched(env):
    body = os.urandom(1 << 20)
    bucket(env, "corrupt", {"m/w.safetensors": body})
    part = s3.cache_dir("s3://corrupt/m", REF) / "w.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1000)
    with pytest.raises(sources.SourceError, match="does not match the object; running the job again fetches it from the start"):
        sources.fetch("s3://corrupt/m", None, REF)
    assert (sources.fetch("s3://corrupt/m", None, REF) / "w.safetensors").read_bytes() == body


def test_an_object_replaced_since_it_was_listed_is_not_mixed_in(env, tmp_path):
    bucket(env, "moving", {"m/w.safetensors": b"new version"})
    stale = s3.Object("m/w.safetensors", 11, "0" * 32)  # the ETag of the version that was listed
    dest = tmp_path / "w.safetensors"
    with pytest.raises(sources.SourceError, match="changed while it was being downloaded; run the job again"):
        s3.fetch(s3.client(REF), "moving", stale, dest)
    assert not dest.exists() and not dest.with_name("w.safetensors.part").exists()


def test_an_object_key_that_leads_outside_is_refused(env, tmp_path):
    bucket(env, "sneaky", {"m/config.json": b"{}", "m/../../../../escaped.txt": b"x"})
    keys = [o["Key"] for o in env.client().list_objects_v2(Bucket="sneaky")["Contents"]]
    assert "m/../../../../escaped.txt" in keys, keys
    with pytest.raises(sources.SourceError, match="this object's key leads outside s3://sneaky/m; refusing it"):
        sources.fetch("s3://sneaky/m", None, REF)
    assert not list(tmp_path.rglob("escaped.txt"))


def _fetch_in_child(uri: str, environ: dict[str, str], out: str) -> None:
    os.environ.update(environ)
    Path(out).write_text(str(sources.fetch(uri, None, REF)))


def test_two_jobs_sharing_the_cache_download_once(env, tmp_path):
    bucket(env, "shared", {"m/model.safetensors": os.urandom(24 << 20), "m/config.json": b"{}"})
    environ = {**secret_vars(env.url), "TUNEFORGE_CACHE": str(tmp_path / "cache")}
    env.record()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_fetch_in_child, args=("s3://shared/m", environ, str(tmp_path / f"out{i}"))) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    requests = env.recorded()
    paths = {(tmp_path / f"out{i}").read_text() for i in range(2)}
    assert len(paths) == 1
    assert len(object_gets(requests, "m/model.safetensors")) == 1, "the second job waited for the first and reused its copy"
    assert (Path(paths.pop()) / "model.safetensors").stat().st_size == 24 << 20


def test_errors_name_the_uri_and_what_to_do(env, monkeypatch):
    with pytest.raises(sources.SourceError, match="^s3://no-such-bucket/m: the bucket does not exist$"):
        sources.fetch("s3://no-such-bucket/m", None, REF)
    bucket(env, "empty", {})
    with pytest.raises(sources.SourceError, match="^s3://empty/nothing: no object at or under this location$"):
        sources.fetch("s3://empty/nothing", None, REF)
    monkeypatch.setenv(secret_env("s3-creds", "AWS_ENDPOINT_URL"), "http://127.0.0.1:9")
    with pytest.raises(sources.SourceError, match="^s3://empty/nothing: cannot reach the S3 endpoint http://127.0.0.1:9$"):
        sources.fetch("s3://empty/nothing", None, REF)


@pytest.mark.slow
def test_a_job_reads_from_s3_and_uploads_its_output_without_leaking_the_keys(server, tmp_path):
    client = server.client()
    model = sources.resolve_model(sources.ModelSource(uri="builtin://smollm2-135m-instruct"))
    client.create_bucket(Bucket="team-models")
    client.create_bucket(Bucket="team-outputs")
    for path in model.iterdir():
        client.upload_file(str(path), "team-models", f"smol/{path.name}")
    secret = {"secretRef": {"name": "s3-creds"}}
    manifest = (quantize(name="s3-gguf").set("spec.model", {"uri": "s3://team-models/smol", **secret})
                .set("spec.gguf", {"types": ["q8_0"]}).set("spec.evaluation", {"enabled": False})
                .set("spec.output", {"uri": "s3://team-outputs/smol-gguf", **secret, "sample": "off"}))
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(manifest))
    cache = tmp_path / "cache"
    saved = dict(os.environ)
    os.environ.update({**secret_vars(server.url), "TUNEFORGE_CACHE": str(cache)})
    try:
        proc = tuneforge("run", str(job))
        again = tuneforge("run", str(job))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert again.returncode == 0, "a finished, uploaded output is recognised, not redone: " + again.stderr[-2000:]

    listed = {o["Key"]: o for o in client.list_objects_v2(Bucket="team-outputs", Prefix="smol-gguf/")["Contents"]}
    record = json.loads(client.get_object(Bucket="team-outputs", Key="smol-gguf/tuneforge-output.json")["Body"].read())
    assert {f"smol-gguf/{f['path']}" for f in record["files"]} | {"smol-gguf/tuneforge-output.json"} == set(listed)
    gguf = listed[f"smol-gguf/{record['artifacts']['q8_0']}"]
    assert gguf["Size"] > 100e6
    assert "-" in gguf["ETag"], "a file this large goes up in parts (multipart upload)"
    assert record["parameters"]["model"]["uri"] == "s3://team-models/smol"

    # The secret's values appear nowhere a user or another tenant could read them.
    staging = next((cache / "staging").iterdir())
    texts = [proc.stdout, proc.stderr, again.stdout, again.stderr, json.dumps(record)]
    texts += [p.read_text(errors="replace") for p in staging.rglob("*") if p.is_file() and p.stat().st_size < 10e6]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*.log")]  # worker logs sit beside staging
    for secret in (s3server.SECRET_KEY, s3server.ACCESS_KEY):
        assert not any(secret in text for text in texts)
