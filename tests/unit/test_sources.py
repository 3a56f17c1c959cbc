"""Source resolution and the shared cache: built once, never half-written, safe under concurrency."""

import multiprocessing
import time
from pathlib import Path

import pytest

from tuneforge import sources
from tuneforge.api.sources import DatasetSource, JobRef, ModelSource


def _slow_build(target: str, counter: str) -> None:
    def build(tmp: Path) -> None:
        with open(counter, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        (tmp / "weights.bin").write_bytes(b"x" * 1000)

    sources.build_once(Path(target), build)


def test_concurrent_builds_happen_once(tmp_path):
    target, counter = tmp_path / "cache" / "model", tmp_path / "count"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_slow_build, args=(str(target), str(counter))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert counter.read_text() == "built\n"
    assert (target / "weights.bin").stat().st_size == 1000
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_failed_build_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model"

    def build(tmp: Path) -> None:
        (tmp / "partial").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        sources.build_once(target, build)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_file_and_pvc_sources(tmp_path, monkeypatch):
    (tmp_path / "claim" / "models" / "m").mkdir(parents=True)
    monkeypatch.setenv("TUNEFORGE_PVC_ROOT", str(tmp_path))
    assert sources.resolve_model(ModelSource(uri="pvc://claim/models/m")) == tmp_path / "claim" / "models" / "m"
    assert sources.resolve_model(ModelSource(uri=f"file://{tmp_path}")) == tmp_path
    with pytest.raises(sources.SourceError, match="does not exist"):
        sources.resolve_model(ModelSource(uri="pvc://claim/missing"))


def test_pickle_weights_are_refused_unless_the_spec_allows_them(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(sources.SourceError) as refused:
        sources.resolve_model(ModelSource(uri=f"file://{model}"))
    assert str(refused.value) == (
        f"file://{model}: its weights are pickle files only (pytorch_model.bin); loading a pickle runs code from the "
        "file. Convert them to safetensors, or set allowPickle: true on this model if you trust where it comes from")
    assert sources.resolve_model(ModelSource(uri=f"file://{model}", allow_pickle=True)) == model
    # Safetensors beside the pickle: the loaders take the safetensors, nothing is unpickled.
    (model / "model.safetensors").write_bytes(b"")
    assert sources.resolve_model(ModelSource(uri=f"file://{model}")) == model
    # A single file source too.
    single = tmp_path / "adapter.pt"
    single.write_bytes(b"pickle")
    with pytest.raises(sources.SourceError, match=r"pickle files only \(adapter.pt\)"):
        sources.resolve_model(ModelSource(uri=f"file://{single}"))
    # The field is part of the API (and so of the CRDs), camelCase on the wire.
    assert ModelSource.model_validate({"uri": "file:///m", "allowPickle": True}).allow_pickle


def test_pvc_paths_stay_inside_their_volume(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_PVC_ROOT", str(tmp_path))
    (tmp_path / "claim").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "claim" / "escape").symlink_to(tmp_path / "secret")
    with pytest.raises(sources.SourceError, match=r"pvc://claim/escape/out: leads outside the volume claim"):
        sources.local_path("pvc://claim/escape/out")
    (tmp_path / "claim" / "inside").symlink_to(tmp_path / "claim")
    assert sources.local_path("pvc://claim/inside/out") == tmp_path / "claim" / "inside" / "out"
    for uri in ("pvc://claim/../secret", "s3://bucket/a/../../b", "hf://org/../other"):
        with pytest.raises(ValueError, match=r"contains '\.\.': a \w+:// path stays inside its"):
            ModelSource(uri=uri)


def test_from_job_must_be_resolved_before_the_worker():
    with pytest.raises(sources.SourceError, match="must be resolved to the upstream output"):
        sources.resolve_model(ModelSource(from_job=JobRef(kind="MergeJob", name="m")))


@pytest.mark.parametrize("name, column", [("chat-mini", "messages"), ("preference-mini", "chosen"), ("calibration-mini", "text")])
def test_builtin_datasets_ship_with_the_package(name, column):
    import json

    fmt = {"chat-mini": "chat", "preference-mini": "preference", "calibration-mini": "text"}[name]
    path = sources.resolve_dataset(DatasetSource(uri=f"builtin://{name}", format=fmt))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert 200 <= len(rows) <= 1000
    assert all(column in r for r in rows)
    assert len({json.dumps(r) for r in rows}) == len(rows), "rows are distinct"


def test_builtin_data_is_what_the_generator_writes(tmp_path, root, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "make_builtin_data.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "OUT", tmp_path)
    gen.main()
    for path in tmp_path.glob("*.jsonl"):
        assert path.read_text() == (root / "operator" / "tuneforge" / "data" / path.name).read_text()


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path))
    assert sources.cache_root() == tmp_path
    monkeypatch.delenv("TUNEFORGE_CACHE")
    assert sources.cache_root() == Path.home() / ".cache" / "tuneforge"


def test_another_jobs_output_folder_resolves_to_its_model(tmp_path):
    """A cluster chains jobs by output URI (the folder); the model is the record's `model` artifact."""
    import json

    out = tmp_path / "ft"
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "model.safetensors").write_bytes(b"x")
    (out / "tuneforge-output.json").write_text(json.dumps({"artifacts": {"adapter": "adapter", "model": "merged"}}))
    assert sources.resolve_model(ModelSource(uri=f"file://{out}")) == out / "merged"
    (out / "config.json").write_text("{}")  # a folder that is a model itself stays as it is
    assert sources.resolve_model(ModelSource(uri=f"file://{out}")) == out


def _model_with_code(folder: Path, marker: Path, model_type: str) -> None:
    import json

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "auto_map": {
        "AutoConfig": "modeling_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel"}}))
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (folder / "model.safetensors").write_bytes(b"{}")


def test_a_model_with_its_own_code_is_refused_unless_trusted(tmp_path):
    marker = tmp_path / "code-ran"
    _model_with_code(tmp_path / "m", marker, "tuneforge-evil")
    with pytest.raises(sources.SourceError) as err:
        sources.resolve_model(ModelSource(uri=f"file://{tmp_path / 'm'}"))
    assert str(err.value) == (f"file://{tmp_path / 'm'}: the model needs its own Python code (modeling_evil.py, named by "
                              "auto_map in config.json); it runs only with trustRemoteCode: true on this model. Leave it "
                              "off unless you trust where the model comes from")
    assert not marker.exists()
    assert sources.resolve_model(ModelSource(uri=f"file://{tmp_path / 'm'}", trust_remote_code=True)) == tmp_path / "m"
    # auto_map beside an architecture transformers knows loads transformers' own class, no code from the model.
    _model_with_code(tmp_path / "known", marker, "llama")
    assert sources.resolve_model(ModelSource(uri=f"file://{tmp_path / 'known'}")) == tmp_path / "known"
    assert not marker.exists()


def test_builtin_model_without_the_gguf_package_says_which_package(tmp_path, monkeypatch):
    """An environment without gguf (the awq, autoawq and exl2 images once lacked it) is told so before
    transformers fails deep in its loader."""
    import importlib.util

    from tuneforge.errors import SourceError
    from tuneforge.sources import builtin

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path))
    with pytest.raises(SourceError, match="builtin://smollm2-135m-instruct needs the PyPI package gguf"):
        builtin.materialize_model("smollm2-135m-instruct")
