"""The backend registry is the one list of backends: every (kind, method) the API accepts has exactly
one backend, every place that names backends agrees with it, and a backend registered in one place
reaches the operator's settings, `tuneforge validate` and the local launcher."""

from __future__ import annotations

import importlib.util
import typing
from pathlib import Path

import yaml
from support.builders import quantize
from click.testing import CliRunner

from tuneforge import backends, cli
from tuneforge.cli import local
from tuneforge.api import finetune, merge, quantize as quantize_api
from tuneforge.api.base import Issue
from tuneforge.api.manifest import parse
from tuneforge.backends.base import Backend
from tuneforge.backends.worker_plan import WorkerPlan
from tuneforge.controller.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def methods(spec_class) -> tuple[str, ...]:
    return typing.get_args(spec_class.model_fields["method"].annotation)


def test_every_method_the_api_accepts_has_exactly_one_backend():
    for kind, spec_class in (("FineTuneJob", finetune.FineTuneSpec), ("MergeJob", merge.MergeSpec),
                             ("QuantizeJob", quantize_api.QuantizeSpec)):
        for method in methods(spec_class):
            owners = [b.name for b in backends.REGISTRY if b.kind == kind and method in b.methods]
            assert len(owners) == 1, (kind, method, owners)


def test_every_place_that_names_worker_images_agrees_with_the_registry():
    registered = set(backends.images())
    chart = yaml.safe_load((ROOT / "charts" / "tuneforge" / "values.yaml").read_text())["workers"]
    spec = importlib.util.spec_from_file_location("image_constraints", ROOT / "scripts" / "image-constraints.py")
    constraints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constraints)
    folders = {p.parent.name for p in (ROOT / "images").glob("*/Dockerfile")}
    assert set(chart["images"]) == registered, "charts/tuneforge/values.yaml workers.images"
    assert set(chart["defaults"]) == registered, "charts/tuneforge/values.yaml workers.defaults"
    assert set(constraints.IMAGES) - {"operator"} == registered, "scripts/image-constraints.py IMAGES"
    assert folders - {"operator"} == registered, "images/<name>/Dockerfile"
    assert set(Settings().images) == set(Settings.from_env().images) == registered


def toy_plan(spec) -> WorkerPlan:
    return WorkerPlan("toy", ("torchrun", "-m", "tuneforge.worker"), launcher="torchrun")


def toy_checks(resource, config):
    found = config(resource.spec.model)
    return [Issue("spec.model", f"the toy backend refuses a model with {found['num_hidden_layers']} layers")]


def test_a_backend_registered_in_one_place_reaches_settings_validation_and_the_local_launcher(monkeypatch, tmp_path):
    toy = Backend("toy", "QuantizeJob", ("gguf",), "tuneforge.backends.gguf", toy_plan, images=("toy",),
                  offline_checks=toy_checks)
    monkeypatch.setattr(backends, "REGISTRY", [toy, *backends.REGISTRY])

    assert Settings.from_env().images["toy"] == "ghcr.io/tuneforge/toy:0.1.0"
    monkeypatch.setenv("TUNEFORGE_IMAGE_TOY", "registry.example/toy:1")
    assert Settings.from_env().images["toy"] == "registry.example/toy:1"

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"num_hidden_layers": 7}')
    doc = dict(quantize("gguf", name="t").set("spec.model", {"uri": f"file://{model}"}))
    manifest = tmp_path / "toy.yaml"
    manifest.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(cli.main, ["validate", str(manifest)])
    assert result.exit_code == 1, result.output
    assert "spec.model: the toy backend refuses a model with 7 layers" in result.output

    resource, _ = parse(doc)
    command = local.worker_command(resource, "spec.json", None, processes=1)
    assert command[1:3] == ["-m", "torch.distributed.run"]
