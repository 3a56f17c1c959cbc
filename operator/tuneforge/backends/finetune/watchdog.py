"""training.lossWatchdog: a run whose loss stays above a threshold is stopped and failed, naming the
step and the loss, before it spends more hours or saves a broken model. No checkpoint is written
while the loss is above the threshold, so the newest one is from before the trouble."""

from __future__ import annotations

import math
from typing import Any

from ...errors import InputError


class Diverged(InputError):
    """The loss blew up: the same settings would blow up again (exit 2: the Job is not retried)."""


def callback(settings):
    """A TrainerCallback that counts strikes (logged losses above the threshold) and stops the run."""
    from transformers import TrainerCallback

    class LossWatchdog(TrainerCallback):
        def __init__(self) -> None:
            self.strikes: list[tuple[int, float]] = []
            self.tripped: tuple[int, float] | None = None

        def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            if math.isfinite(loss) and loss <= settings.threshold:
                self.strikes = []
                return
            self.strikes.append((state.global_step, loss))
            control.should_save = False  # a checkpoint of a run going wrong is not one to resume from
            if len(self.strikes) >= settings.patience:
                self.tripped = (state.global_step, loss)
                control.should_training_stop = True

    return LossWatchdog()


def verdict(watch, settings, newest_checkpoint: str | None, location: str) -> None:
    """Raise Diverged when the watchdog stopped the run."""
    if watch is None or watch.tripped is None:
        return
    step, loss = watch.tripped
    first = watch.strikes[0][0]
    kept = f"{newest_checkpoint} in {location} is the newest checkpoint (written before step {first})" \
        if newest_checkpoint else "no checkpoint was written before the loss rose"
    raise Diverged(f"training.lossWatchdog: the training loss stayed above {settings.threshold:g} for "
                   f"{settings.patience} logged steps in a row (from step {first}; step {step}: loss {loss:.4g}); the run "
                   f"was stopped; {kept}. Lower training.learningRate, raise warmup, or check the data")
