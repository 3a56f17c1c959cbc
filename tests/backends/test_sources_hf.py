"""hf:// sources through huggingface_hub's real `snapshot_download`, offline (HF_HUB_OFFLINE=1) over a
hub cache laid out as the hub client writes it; and the plan of an hf:// push."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from support.builders import quantize
from support.run import tuneforge
from tuneforge import sources
from tuneforge.sources import hub
from tuneforge.api.sources import DatasetSource, ModelSource, SecretRef, secret_env

COMMIT = hashlib.sha1(b"tuneforge-test").hexdigest()


def fill_cache(cache: Path, repo_type: str, repo_id: str, files: dict[str, Path | str], refs: tuple[str, ...] = ("main",)) -> Path:
    """The hub cache layout: blobs by hash, a snapshot per commit linking to them, refs naming the commit."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(str(content).encode()).hexdigest()
        if isinstance(content, Path):
            blob.symlink_to(content.resolve())
        else:
            blob.write_text(content)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(COMMIT)
    return snapshot


@pytest.fixture(scope="module")
def builtin_model() -> Path:
    return sources.resolve_model(ModelSource(uri="builtin://smollm2-135m-instruct"))


@pytest.fixture
def hub_cache(tmp_path, builtin_model, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    files = {p.name: p for p in builtin_model.iterdir() if p.is_file()}
    snapshot = fill_cache(cache, "model", "tuneforge-test/smol", files, refs=("main", "v1"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache, snapshot


def test_model_by_branch_tag_and_commit_comes_from_the_cache(hub_cache):
    _, snapshot = hub_cache
    for revision in (None, "v1", COMMIT):
        path = sources.resolve_model(ModelSource(uri="hf://tuneforge-test/smol", revision=revision))
        assert path == snapshot
        assert (path / "config.json").is_file()


def test_a_revision_missing_offline_says_what_to_do(hub_cache):
    with pytest.raises(sources.SourceError) as err:
        sources.resolve_model(ModelSource(uri="hf://tuneforge-test/smol", revision="v2"))
    assert str(err.value) == ("hf://tuneforge-test/smol@v2: not in the hub cache and downloads are off (HF_HUB_OFFLINE); "
                              "run once with access to the hub or pre-fill the cache")


def test_an_error_with_a_token_set_does_not_carry_the_token(hub_cache, monkeypatch):
    monkeypatch.setenv(secret_env("hf-token", "token"), "hf_known_fake_token_42")
    with pytest.raises(sources.SourceError) as err:
        sources.resolve_model(ModelSource(uri="hf://someone/private", secretRef=SecretRef(name="hf-token")))
    assert str(err.value).startswith("hf://someone/private@main: not in the hub cache")
    assert "hf_known_fake_token_42" not in str(err.value) and "hf_known_fake_token_42" not in repr(err.value.__cause__)


def test_pickle_only_hub_model_is_refused(hub_cache):
    cache, _ = hub_cache
    fill_cache(cache, "model", "someone/pickled", {"config.json": "{}", "pytorch_model.bin": "not really a pickle"})
    with pytest.raises(sources.SourceError, match="its weights are pickle files only \\(pytorch_model.bin\\)"):
        sources.resolve_model(ModelSource(uri="hf://someone/pickled"))


def test_dataset_repository_loads_its_rows(hub_cache):
    from tuneforge.backends.common.rows import load_rows

    cache, _ = hub_cache
    rows = "\n".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
                     for i in range(5))
    fill_cache(cache, "dataset", "tuneforge-test/chat", {"train.jsonl": rows + "\n"})
    source = DatasetSource(uri="hf://datasets/tuneforge-test/chat", format="chat")
    loaded = load_rows(sources.resolve_dataset(source), "chat", source.uri, seed=0)
    assert sorted(r["messages"][0]["content"] for r in loaded) == [f"q{i}" for i in range(5)]


def test_token_comes_from_the_mounted_secret_and_a_missing_one_is_named(monkeypatch):
    ref = SecretRef(name="hf-token")
    monkeypatch.setenv(secret_env("hf-token", "token"), "hf_fake_0123")
    assert hub.token(ref) == "hf_fake_0123"
    monkeypatch.delenv(secret_env("hf-token", "token"))
    with pytest.raises(sources.SourceError, match="^secretRef hf-token: key token is empty or was not mounted$"):
        hub.token(ref)
    assert hub.token(None) is None


def test_a_path_inside_a_repository_is_refused():
    with pytest.raises(sources.SourceError, match="name a repository"):
        hub.download("hf://org/name/sub/folder", None, None)


def test_push_plan_is_one_private_commit_without_scratch(tmp_path):
    plan = hub.push_plan(tmp_path, "hf://me/smol-tuned", "experiments", "FineTuneJob/smol")
    assert plan["create_repo"] == {"repo_id": "me/smol-tuned", "repo_type": "model", "private": True, "exist_ok": True}
    upload = plan["upload_folder"]
    assert (upload["repo_id"], upload["folder_path"], upload["revision"]) == ("me/smol-tuned", str(tmp_path), "experiments")
    assert "checkpoints/**" in upload["ignore_patterns"]
    assert hub.push_plan(tmp_path, "hf://datasets/me/rows", None, "x")["create_repo"]["repo_type"] == "dataset"


@pytest.mark.slow
def test_a_job_reads_from_the_hub_cache_and_writes_to_a_pvc(hub_cache, tmp_path):
    """hf:// in, pvc:// out: locally the claim is a folder under TUNEFORGE_PVC_ROOT, as /mnt/pvc in a pod."""
    cache, _ = hub_cache
    manifest = (quantize(name="from-hub").set("spec.model", {"uri": "hf://tuneforge-test/smol", "revision": "v1"})
                .set("spec.gguf", {"types": ["q8_0"]}).set("spec.evaluation", {"enabled": False})
                .set("spec.output", {"uri": "pvc://models/smol/q8", "sample": "off"}))
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(manifest))
    saved = dict(os.environ)
    os.environ.update({"HF_HUB_CACHE": str(cache), "TUNEFORGE_PVC_ROOT": str(tmp_path / "pvc")})
    try:
        proc = tuneforge("run", str(path))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "pvc" / "models" / "smol" / "q8"
    record = json.loads((out / "tuneforge-output.json").read_text())
    assert record["parameters"]["model"] == {"uri": "hf://tuneforge-test/smol", "revision": "v1"}
    assert (out / record["artifacts"]["q8_0"]).stat().st_size > 100e6
    assert f"q8_0: {out / record['artifacts']['q8_0']}" in proc.stdout
