"""The thirteen mergekit methods beyond tests/backends/test_merge.py, each run for real through the
worker on the built-in model and seeded variants of it, each checked in its own terms on one tensor:
where the method keeps, drops, averages or interpolates weights. Every output loads and generates
(the worker's sample)."""

import pytest
import torch
import yaml
from safetensors.torch import load_file
from support.variants import perturbed_copies

from tuneforge.worker import record
from tuneforge.worker.__main__ import main as worker

pytestmark = pytest.mark.slow
NAME = "model.layers.10.mlp.down_proj.weight"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base, (a, b) = perturbed_copies(tmp_path_factory.mktemp("variants"), (1, 2))
    tensors = {key: load_file(path / "model.safetensors")[NAME].float() for key, path in (("base", base), ("a", a), ("b", b))}
    return {"base": {"uri": f"file://{base}"}, "a": {"uri": f"file://{a}"}, "b": {"uri": f"file://{b}"}}, tensors


def merged(tmp_path, prepared, method, base=True, **spec):
    """The merged tensor, after the worker ran the MergeJob and wrote a record whose sample generated."""
    uris, _ = prepared
    full = {"method": method, "dtype": "float32", **({"baseModel": uris["base"]} if base else {}), **spec}
    for entry in full.get("models", []):
        entry["model"] = uris[entry["model"]]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob",
                                    "metadata": {"name": method.replace("_", "-")}, "spec": full}))
    assert worker(["--spec", str(path), "--output", str(tmp_path / "out")]) == 0
    rec = record.read(tmp_path / "out")
    assert rec["metrics"]["sample"]["completion"], "the merged model loads and generates"
    assert yaml.safe_load((tmp_path / "out" / "mergekit_config.yml").read_text())["merge_method"] == method
    return load_file(tmp_path / "out" / "model" / "model.safetensors")[NAME].float()


def changed(out, base):
    return (out != base).float().mean().item()


def weighted(*names, **parameters):
    return [{"model": n, "parameters": {"weight": 1.0, **parameters}} for n in names]


def test_della_keeps_each_delta_at_its_density(tmp_path, models):
    t = models[1]
    # Each model's delta keeps half its entries, drawn independently: two models' union covers
    # 1 - 0.5^2, one model's half. della_linear merges one (della's ranking sorts every tensor of
    # every model twice: about 10 s of one free CPU per model here, twice that beside another test).
    for method, names, share in (("della", ("a", "b"), 0.75), ("della_linear", ("a",), 0.5)):
        out = merged(tmp_path / method, models, method, models=weighted(*names, density=0.5, epsilon=0.1))
        assert changed(out, t["base"]) == pytest.approx(share, abs=0.02), method


def test_breadcrumbs_drops_the_largest_and_smallest_changes(tmp_path, models):
    t = models[1]
    out = merged(tmp_path / "one", models, "breadcrumbs", models=weighted("a", density=0.8, gamma=0.05))
    delta = (t["a"] - t["base"]).abs().flatten()
    top = delta.topk(int(0.05 * delta.numel())).indices
    assert changed(out, t["base"]) == pytest.approx(0.8, abs=0.01)
    assert torch.equal(out.flatten()[top], t["base"].flatten()[top]), "the outliers (gamma) stay at the base"
    out = merged(tmp_path / "ties", models, "breadcrumbs_ties", models=weighted("a", "b", density=0.8, gamma=0.05))
    assert changed(out, t["base"]) == pytest.approx(1 - 0.2**2, abs=0.02)


def test_model_stock_moves_along_the_average_of_the_fine_tunes(tmp_path, models):
    t = models[1]
    out = merged(tmp_path, models, "model_stock", models=[{"model": "a"}, {"model": "b"}])
    direction = torch.nn.functional.cosine_similarity((out - t["base"]).flatten(), ((t["a"] + t["b"]) / 2 - t["base"]).flatten(), dim=0)
    assert direction > 0.9999 and changed(out, t["base"]) > 0.99


def test_sce_keeps_the_selected_share_of_entries(tmp_path, models):
    t = models[1]
    out = merged(tmp_path, models, "sce", models=[{"model": "a"}, {"model": "b"}], parameters={"select_topk": 0.5})
    assert changed(out, t["base"]) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("method", ["nuslerp", "multislerp", "karcher"])
def test_spherical_means_keep_the_norm(tmp_path, models, method):
    t = models[1]
    spec = {"models": [{"model": "a"}, {"model": "b"}]} if method == "karcher" else {"models": weighted("a", "b")}
    out = merged(tmp_path, models, method, base=False, **spec)
    mean = (t["a"] + t["b"]) / 2
    assert torch.nn.functional.cosine_similarity(out.flatten(), mean.flatten(), dim=0) > 1 - 1e-6
    # A linear mean shrinks toward the origin; the spherical one keeps (nearly) the inputs' norm.
    low = min(t["a"].norm(), t["b"].norm())
    assert out.norm() > mean.norm() + 0.5 * (low - mean.norm())


def test_nearswap_takes_the_other_model_where_they_are_near(tmp_path, models):
    t = models[1]
    threshold = (t["a"] - t["base"]).abs().median().item()
    out = merged(tmp_path, models, "nearswap", models=[{"model": "base"}, {"model": "a"}], parameters={"t": threshold})
    near = (t["a"] - t["base"]).abs() <= threshold
    assert torch.allclose(out[near], t["a"][near], atol=1e-6)
    far = ~near
    low, high = torch.minimum(t["a"], t["base"])[far], torch.maximum(t["a"], t["base"])[far]
    assert bool(((out[far] >= low - 1e-6) & (out[far] <= high + 1e-6)).all()) and not torch.equal(out[far], t["a"][far])


def test_arcee_fusion_takes_each_weight_from_one_model(tmp_path, models):
    t = models[1]
    out = merged(tmp_path, models, "arcee_fusion", models=[{"model": "base"}, {"model": "a"}])
    from_a, from_base = (out == t["a"]), (out == t["base"])
    assert bool((from_a | from_base).all()) and 0 < from_a.float().mean().item() < 0.5


@pytest.mark.parametrize("method", ["ram", "ramplus_tl"])
def test_ram_averages_overlapping_task_vectors(tmp_path, models, method):
    t = models[1]
    out = merged(tmp_path, models, method, models=[{"model": "a"}, {"model": "b"}])
    # Both deltas are dense here, so (almost) every entry is where they overlap: the mean.
    assert ((out - (t["a"] + t["b"]) / 2).abs() < 1e-6).float().mean().item() > 0.99
