"""tuneforge's operator with Kubernetes Event posting switched off: for the benchmark only, to show
what the Events the operator must post cost on this emulator. Not a supported configuration.

    kopf run bench/operator/no_events.py --standalone --all-namespaces
"""

import kopf

from tuneforge.controller import main  # noqa: F401  (registers the operator's handlers and its startup)


@kopf.on.startup()
def no_events(settings: kopf.OperatorSettings, **_) -> None:
    settings.posting.enabled = False
