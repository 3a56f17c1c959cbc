"""tuneforge's images built for real with buildah from their Dockerfiles, on a Debian base made with
debootstrap (no registry holds a base image for these tests). The build's layers are kept under
~/.cache/tuneforge/images/buildah, so a second build of unchanged dependencies reuses them;
the gguf image takes llama.cpp's wheel from this machine's own environments."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TUNEFORGE_CACHE_HOME", Path.home() / ".cache" / "tuneforge")) / "images"
# Debian's python3 (3.11 on bookworm) and its venv module: what every Dockerfile's BASE needs.
SUITE, INCLUDE = "bookworm", "python3,python3-venv,ca-certificates"
BASE = "localhost/debian-python:bookworm"
TAG = "test"
# The CPU-only build of each image: the CUDA bases replaced by the Debian one, llama.cpp without CUDA.
CPU_ARGS = {"BASE": BASE, "BUILD_BASE": BASE, "GGML_CUDA": "OFF"}
# llama.cpp's wheel of this machine's environments (scripts/llama-cpp.sh): the CPU-only gguf image
# uses it with the same options, so a fresh machine compiles llama.cpp once, not twice (6-13 min).
HOST_WHEELS = Path(os.environ.get("TUNEFORGE_WHEEL_CACHE", Path.home() / ".cache" / "tuneforge" / "wheels"))


def host_cmake_args() -> str:
    return subprocess.run([str(ROOT / "scripts" / "llama-cpp.sh"), "--cmake-args"], capture_output=True, text=True,
                          check=True).stdout.strip()


class BuildError(RuntimeError):
    pass


def debian_rootfs() -> Path:
    """A Debian base as a tar, made once with debootstrap and cached (about 40 s)."""
    tar = CACHE / f"debian-{SUITE}-{INCLUDE.replace(',', '-')}.tar"
    if not tar.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        work = CACHE / "debootstrap.tmp"
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, str(work),
                        "http://deb.debian.org/debian"], check=True, capture_output=True)
        subprocess.run(["tar", "-C", str(work), "-cf", f"{tar}.tmp", "."], check=True)
        os.replace(f"{tar}.tmp", tar)
        shutil.rmtree(work, ignore_errors=True)
    return tar


def ca_bundle() -> str:
    """The CA bundle this machine's pip trusts (a TLS-inspecting proxy may sit between it and PyPI)."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE"),
                      ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BuildError("no CA bundle found for pip inside the build")


def stages(dockerfile: Path) -> list[str]:
    """The named stages (`FROM ... AS name`) of a multi-stage Dockerfile."""
    return re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE | re.IGNORECASE)


class Buildah:
    """buildah with its own storage: `driver` overlay keeps layers between runs (the cache), vfs
    suits a throwaway folder."""

    def __init__(self, storage: Path = CACHE / "buildah", driver: str = "overlay"):
        self.storage = storage
        self.command = ["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"),
                        "--storage-driver", driver]

    @property
    def env(self) -> dict[str, str]:
        """buildah's temporary files (a whole layer while it commits or pushes one) in its storage,
        not /var/tmp: a killed build's are then removed with its working containers."""
        tmp = self.storage / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {**os.environ, "TMPDIR": str(tmp)}

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run([*self.command, *args], capture_output=True, text=True, cwd=cwd, env=self.env)
        if result.returncode != 0:
            raise BuildError(f"buildah {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def exists(self, ref: str) -> bool:
        return subprocess.run([*self.command, "inspect", "--type", "image", ref], capture_output=True,
                              env=self.env).returncode == 0

    def base(self) -> str:
        """The Debian base as an image in this storage."""
        if not self.exists(BASE):
            folder = self.storage / "base"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(debian_rootfs(), folder / "rootfs.tar")
            (folder / "Containerfile").write_text("FROM scratch\nADD rootfs.tar /\n")
            self("bud", "--isolation", "chroot", "-q", "-t", BASE, str(folder))
            shutil.rmtree(folder)
        return BASE

    def build(self, image: str, build_args: dict[str, str] | None = None, tag: str = TAG) -> tuple[str, float]:
        """images/<image>/Dockerfile built from this checkout; (reference, seconds)."""
        self.make_room()
        self.base()
        started = time.monotonic()
        ref = f"localhost/tuneforge/{image}:{tag}"
        options = [*self.build_args(build_args, tag), *self.build_options(), "-f", f"images/{image}/Dockerfile"]
        # Named build stages are tagged too: make_room() prunes untagged images, and an untagged
        # build stage would take its cached layers (the dependencies' install) with it.
        for stage in stages(ROOT / "images" / image / "Dockerfile"):
            self("bud", "--layers", *options, "--target", stage,
                 "-t", f"localhost/tuneforge/{image}-{stage}:{tag}", ".", cwd=ROOT)
        self("bud", "--layers", *options, "-t", ref, ".", cwd=ROOT)
        return ref, time.monotonic() - started

    def build_args(self, extra: dict[str, str] | None = None, tag: str = TAG) -> list[str]:
        """The CPU-only build's arguments (the Debian base, llama.cpp as this machine's environments
        build it), the image's version label its tag."""
        values = {**CPU_ARGS, "LLAMA_CMAKE_ARGS": host_cmake_args(), "VERSION": tag, **(extra or {})}
        return [a for k, v in values.items() for a in ("--build-arg", f"{k}={v}")]

    def build_options(self) -> list[str]:
        """pip inside the build trusts what this machine's pip trusts, and finds llama.cpp's wheel
        (HOST_WHEELS): mounted for the build only, in no layer."""
        conf = self.storage / "pip.conf"
        conf.write_text("[global]\ncert = /etc/ssl/certs/build-ca.crt\n")
        HOST_WHEELS.mkdir(parents=True, exist_ok=True)
        return ["--isolation", "chroot", "-q", "--volume", f"{ca_bundle()}:/etc/ssl/certs/build-ca.crt:ro",
                "--volume", f"{conf}:/etc/pip.conf:ro", "--volume", f"{HOST_WHEELS}:/tmp/wheels"]

    def publish(self, registry: str, names: tuple[str, ...], tag: str = TAG) -> None:
        """scripts/publish as a user runs it, with this storage and build()'s options: its builds are
        build()'s cached steps; the images and the chart are pushed to `registry` (plain HTTP)."""
        command = [str(ROOT / "scripts" / "publish"), registry, "--tag", tag, "--images", ",".join(names),
                   "--plain-http", "--builder", " ".join(self.command)]
        command += [*self.build_args(tag=tag), *(f"--build-opt={o}" for o in self.build_options())]
        # zstd: the registry keeps a third of the uncompressed size (about 5 GB for the three images
        # instead of 13), at a few seconds of CPU per GB; containerd unpacks zstd layers (OCI format).
        command += [f"--push-opt={o}" for o in ("-q", "--format=oci", "--compression-format=zstd", "--compression-level=3")]
        tools = subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True, check=True)
        env = {**self.env, "HELM": str(Path(tools.stdout.strip()) / "helm")}
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        # The registry's names (its port changes every run) would keep every run's images in this
        # storage; the localhost/ names keep the build's cache.
        subprocess.run([*self.command, "rmi", *(f"{registry}/{name}:{tag}" for name in names)], capture_output=True,
                       env=self.env)
        if result.returncode != 0:
            raise BuildError(f"scripts/publish failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def remove(self, image: str, tag: str = TAG) -> None:
        """An image built by build(), its stages and their layers."""
        refs = [f"localhost/tuneforge/{image}:{tag}"] + [
            f"localhost/tuneforge/{image}-{stage}:{tag}" for stage in stages(ROOT / "images" / image / "Dockerfile")]
        subprocess.run([*self.command, "rmi", "--force", *refs], capture_output=True, env=self.env)
        if not self.busy():
            subprocess.run([*self.command, "rmi", "--prune", "--force"], capture_output=True, env=self.env)

    def make_room(self, free: int = 15 << 30) -> None:
        """Older builds' layers (untagged images, and with them the cached steps) dropped when the disk
        has less than `free` bytes left: a dependency change leaves GBs behind, a code change little."""
        self.storage.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(self.storage).free < free and not self.busy():
            subprocess.run([*self.command, "rmi", "--prune", "--force"], capture_output=True, env=self.env)

    def busy(self) -> bool:
        """Another buildah process works in this storage (the background build beside a test's): its
        build's intermediate images and containers must not be removed under it."""
        return subprocess.run(["pgrep", "-f", f"buildah --root {self.storage / 'root'} "],
                              capture_output=True).returncode == 0

    def remove_leftovers(self) -> None:
        """Working containers left by builds that were killed (an interrupted test run): several GB
        each. Only while no other buildah process uses this storage (another test run's build)."""
        self.storage.mkdir(parents=True, exist_ok=True)
        if self.busy():
            return
        subprocess.run([*self.command, "rm", "--all"], capture_output=True, env=self.env)
        shutil.rmtree(self.storage / "tmp", ignore_errors=True)



# What the real node runs, built ahead by build_in_background() (tests/conftest.py).
NODE_IMAGES = ("operator", "finetune", "gguf")
_background: dict[str, str] = {}
BACKGROUND_LOG = CACHE / "background-build.log"
BACKGROUND_RC = CACHE / "background-build.rc"


def build_in_background() -> None:
    """Build the real node's images and add-ons in a separate process while other tests run; `built()`
    waits for it. Under pytest-xdist every worker collects the real node's tests: the first to get here
    in this run starts the build, and whichever worker runs them waits for its exit status file."""
    import fcntl
    import sys

    if "run" in _background:
        return
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    _background["run"] = run
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "background-build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        if handle.read() == run:
            return  # another worker of this run started it
        handle.seek(0)
        handle.truncate()
        handle.write(run)
        handle.flush()
        BACKGROUND_RC.unlink(missing_ok=True)
        Buildah().remove_leftovers()
        code = ("import sys; sys.path.insert(0, %r); from support import images, realnode; realnode.addons(); "
                "b = images.Buildah(); [print(n, *b.build(n), flush=True) for n in images.NODE_IMAGES]") % str(ROOT / "tests")
        # Not niced: with a test in each of CI's two cores' workers, a niced build gets a few percent of
        # a core and the real node's tests, last, wait for it; an equal share ends it well before them.
        script = f'"$0" -c "$1"; echo "{run} $?" > {BACKGROUND_RC}.part && mv {BACKGROUND_RC}.part {BACKGROUND_RC}'
        subprocess.Popen(["sh", "-c", script, sys.executable, code], stdout=open(BACKGROUND_LOG, "w"),  # noqa: SIM115
                         stderr=subprocess.STDOUT)


def built(timeout: float = 3600) -> list[str]:
    """The real node's images, built here or by the background process; their references."""
    run = _background.get("run")
    if run is not None:
        deadline = time.monotonic() + timeout
        while not (BACKGROUND_RC.exists() and BACKGROUND_RC.read_text().split()[0] == run):
            if time.monotonic() > deadline:
                raise BuildError(f"the real node's images were not built within {timeout:.0f} s; see {BACKGROUND_LOG}")
            time.sleep(5)
        if BACKGROUND_RC.read_text().split()[1] != "0":
            raise BuildError(f"building the real node's images failed; {BACKGROUND_LOG} ends:\n"
                             + BACKGROUND_LOG.read_text(errors="replace")[-3000:])
        # Not built a second time: by now the rest of the suite may have filled the disk enough for
        # make_room() to prune the cached steps just built, and the rebuild would not fit.
        return [f"localhost/tuneforge/{name}:{TAG}" for name in NODE_IMAGES]
    buildah = Buildah()
    return [buildah.build(name)[0] for name in NODE_IMAGES]
