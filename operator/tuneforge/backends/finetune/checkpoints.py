"""Checkpoints that outlive the pod (spec.checkpoints).

The trainer writes checkpoints into a local folder. With an s3:// location each finished checkpoint
is uploaded (trainer_state.json last: a checkpoint without it is incomplete and never resumed from),
older ones beyond saveTotalLimit are deleted there, and a new pod downloads the latest complete one
before training. A pvc:// or file:// location is the local folder itself. On SIGTERM transformers'
JIT checkpointing (enable_jit_checkpoint) saves at once; the upload runs in the same on_save hook,
within the pod's terminationGracePeriodSeconds. A counter of starts kept at the location gives the
number of restarts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ...api.checkpoints import default_location
from ...sources import local_path

STATE = "trainer_state.json"
ATTEMPTS = "attempts.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def newest(folder: Path) -> Path | None:
    """The newest complete checkpoint: a pod killed while saving leaves one without trainer state."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.iterdir() if CHECKPOINT.match(p.name) and (p / STATE).is_file()
            and not (p / "checkpoint-is-incomplete.txt").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None


class Store:
    """The job's checkpoint folder, and its remote copy when the location is s3://."""

    def __init__(self, spec, output: Path, output_uri: str | None):
        """`output_uri`: where the output is published (spec.output.uri in a pod; a local folder when
        `tuneforge run` or --output overrides it, and then checkpoints stay local too)."""
        c = spec.checkpoints
        uri = c.uri or default_location(output_uri)
        self.keep = spec.training.save_total_limit
        self.remote = uri if uri and uri.startswith("s3://") else None
        self.secret = (c.secret_ref if c.uri else spec.output.secret_ref) if self.remote else None
        self.local = local_path(uri) if uri and not self.remote else output / "checkpoints"
        self.owned = self.local == output / "checkpoints"  # removed once the job is done
        self.location = uri or str(self.local)

    def restore(self, first: bool) -> str | None:
        """Bring the latest complete remote checkpoint here when the local folder lacks it (every process
        may call it: the first in a pod downloads, the others wait and find it); `first` (global rank
        0) counts this start. Returns the checkpoint to resume from."""
        from ...sources.cache import locked

        self.local.mkdir(parents=True, exist_ok=True)
        if self.remote:
            with locked(self.local / ".restore"):
                self._download_latest()
        if first:
            attempts = self._read_attempts() + 1
            (self.local / ATTEMPTS).write_text(json.dumps({"attempts": attempts}))
            if self.remote:
                self._upload_file(ATTEMPTS)
        found = newest(self.local)
        return str(found) if found else None

    def restarts(self) -> int:
        return max(self._read_attempts() - 1, 0)

    def saved(self, first: bool) -> None:
        """After the trainer saved a checkpoint, on the first process of each pod: copy this pod's part of
        it out (under ZeRO each pod holds its ranks' shards); `first` (global rank 0, which writes
        trainer_state.json, uploaded last) also copies the run's files and prunes old checkpoints there."""
        if not self.remote:
            return
        from ...sources import s3

        latest = newest(self.local)
        if latest is None:
            return
        s3.upload(latest, f"{self.remote}/{latest.name}", self.secret, last=STATE)
        if not first:
            return
        for name in ("mlflow-run.json", ATTEMPTS):
            if (self.local / name).is_file():
                self._upload_file(name)
        steps = sorted(self._remote_steps())
        for step in steps[: max(len(steps) - self.keep, 0)]:
            s3.delete_prefix(f"{self.remote}/checkpoint-{step}", self.secret)

    def finished(self) -> None:
        if self.owned:
            shutil.rmtree(self.local, ignore_errors=True)

    def _remote_steps(self) -> list[int]:
        from ...sources import s3

        _bucket, prefix = s3.split(self.remote)
        steps = []
        for obj in s3.listing(s3.client(self.secret), self.remote):
            rel = obj.key[len(prefix):].lstrip("/")
            name, _, rest = rel.partition("/")
            if rest == STATE and CHECKPOINT.match(name):
                steps.append(int(name.split("-")[1]))
        return steps

    def _download_latest(self) -> None:
        from ...sources import s3

        steps = self._remote_steps()
        for name in ("mlflow-run.json", ATTEMPTS):
            if s3.exists(self.remote, self.secret, name) and not (self.local / name).exists():
                shutil.copy(s3.download(f"{self.remote}/{name}", self.secret), self.local / name)
        if not steps:
            return
        name = f"checkpoint-{max(steps)}"
        if newest(self.local) is not None and newest(self.local).name == name:
            return
        shutil.copytree(s3.download(f"{self.remote}/{name}", self.secret), self.local / name, dirs_exist_ok=True)
        print(f"downloaded {name} from {self.remote}", flush=True)

    def _upload_file(self, name: str) -> None:
        from ...sources import s3

        s3.put_file(self.local / name, f"{self.remote}/{name}", self.secret)

    def _read_attempts(self) -> int:
        path = self.local / ATTEMPTS
        return json.loads(path.read_text())["attempts"] if path.is_file() else 0
