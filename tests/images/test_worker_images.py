"""The worker images no cluster test runs (awq, autoawq, exl2, mergekit), built by buildah from their
Dockerfiles (CPU builds on the Debian base) and run as a worker pod runs them: the image's own entry
point, uid 1000, the spec file, the model cache at /cache and an output folder mounted. Methods that
run on a CPU run to their output record; for the CUDA-only converters (exl2, exl3) the worker must
refuse by name, and their libraries must be installed (a CPU cannot import them: they compile CUDA
extensions at import). A Dockerfile change that breaks one of these workers fails here.

Several GB each: built, run and removed one at a time, in the real-node mode
(TUNEFORGE_REAL_NODE=1, docs/development.md); images/README.md records their sizes and build times.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support.builders import merge, quantize
from support.images import Buildah

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("TUNEFORGE_REAL_NODE") != "1",
    reason="worker images: run with TUNEFORGE_REAL_NODE=1 scripts/test tests/images/test_worker_images.py "
           "(about 15 GB of disk; docs/development.md)")]

SPEC = "/etc/tuneforge/spec.json"  # where the operator mounts the worker spec (contract.py)
CALIBRATION = {"groupSize": 64, "numSamples": 8, "maxSequenceLength": 128}  # hidden size 576: groups of 64
NO_EVALUATION = {"enabled": False}

# Installed in each image (distribution names): its engine, and gguf for builtin:// models.
LIBRARIES = {"mergekit": ("mergekit", "gguf"), "awq": ("llmcompressor", "compressed-tensors", "gguf"),
             "autoawq": ("autoawq", "gguf"), "exl2": ("exllamav2", "exllamav3", "gguf")}

# image -> (resource, what the run must end with: "record" or a phrase of the refusal)
CASES = {
    # One model at hand: passthrough (a layer slice) is the merge that takes a single model; slerp of a
    # model with itself is refused by validation.
    "mergekit": (merge("passthrough").set("spec.dtype", "float32"), "record"),
    "awq": (quantize("gptq").set("spec.gptq", CALIBRATION).set("spec.evaluation", NO_EVALUATION), "record"),
    # AutoAWQ quantizes on a CPU, but loading its checkpoint back (the sample) needs CUDA kernels or
    # IPEX ("Please install IPEX package"): sampling off here.
    "autoawq": (quantize("awq").set("spec.awq", {**CALIBRATION, "engine": "autoawq"})
                .set("spec.evaluation", NO_EVALUATION).set("spec.output", {"sample": "off"}), "record"),
    "exl2": (quantize("exl2").set("spec.evaluation", NO_EVALUATION), "CUDA"),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One model cache for the module's containers, written by uid 1000 as the claim would be."""
    folder = tmp_path_factory.mktemp("cache")
    os.chown(folder, 1000, 1000)
    return folder


def run_worker(buildah: Buildah, ref: str, resource: dict, cache: Path, out: Path) -> subprocess.CompletedProcess:
    config = json.loads(buildah("inspect", "--type", "image", ref))["OCIv1"]["config"]
    entrypoint, user = config["Entrypoint"], config["User"]
    spec = out.parent / "spec.json"
    spec.write_text(json.dumps(dict(resource)))
    out.mkdir()
    os.chown(out, 1000, 1000)
    container = buildah("from", "-q", ref).strip()
    try:
        return subprocess.run(
            [*buildah.command, "run", "--isolation", "chroot", "--user", user, "--env", "TUNEFORGE_CACHE=/cache",
             "--env", "OMP_NUM_THREADS=1", "--env", "HF_HUB_OFFLINE=1",
             "--volume", f"{spec}:{SPEC}:ro", "--volume", f"{cache}:/cache", "--volume", f"{out}:/out",
             container, "--", *entrypoint, "--spec", SPEC, "--output", "/out"],
            capture_output=True, text=True, timeout=1800, env=buildah.env)
    finally:
        buildah("rm", container)


def run_python(buildah: Buildah, ref: str, code: str, *args: str) -> str:
    container = buildah("from", "-q", ref).strip()
    try:
        return buildah("run", "--isolation", "chroot", "--user", "1000:1000", container, "--", "python", "-c", code, *args)
    finally:
        buildah("rm", container)


@pytest.mark.parametrize("image", sorted(CASES))
def test_the_worker_image_builds_and_its_worker_runs(image, cache, tmp_path):
    buildah = Buildah()
    ref, seconds = buildah.build(image)
    try:
        size = json.loads(buildah("images", "--json", ref))[0]["size"]
        print(f"\n{image}: built in {seconds:.0f} s, {size}")
        resource, expected = CASES[image]
        versions = run_python(buildah, ref, "import importlib.metadata as m, sys; "
                              "print(*(m.version(d) for d in sys.argv[1:]))", *LIBRARIES[image])
        print(f"{image}: {dict(zip(LIBRARIES[image], versions.split()))}")
        started = time.monotonic()
        proc = run_worker(buildah, ref, resource, cache, tmp_path / "out")
        print(f"{image}: worker ran {time.monotonic() - started:.0f} s, exit {proc.returncode}")
        log = proc.stdout[-3000:] + proc.stderr[-3000:]
        if expected == "record":
            assert proc.returncode == 0, log
            record = json.loads((tmp_path / "out" / "tuneforge-output.json").read_text())
            assert record["kind"] == resource["kind"] and record["method"] == resource["spec"]["method"], record
            assert all(f["size"] > 0 for f in record["files"]), record["files"]
            assert (tmp_path / "out" / "tuneforge-output.json").stat().st_uid == 1000
            assert "::tuneforge::result" in proc.stdout, log
        else:
            # A CUDA-only converter: the worker starts from the entry point and refuses for want of a GPU.
            assert proc.returncode == 2 and expected in proc.stderr, log
    finally:
        buildah.remove(image)
