"""`tuneforge operator`: the kopf operator (what the operator image runs)."""

from __future__ import annotations

import click

from . import main


@main.command()
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Watch this namespace (repeatable).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch every namespace.")
@click.option("--standalone/--peering", default=True, show_default=True,
              help="Run alone (one replica, the chart's default) or coordinate with other replicas.")
@click.option("--liveness", default="http://0.0.0.0:8080/healthz", show_default=True, help="Liveness probe endpoint.")
@click.option("--verbose", "-v", is_flag=True, help="Log every handler run, not only what changed.")
def operator(namespaces: tuple[str, ...], all_namespaces: bool, standalone: bool, liveness: str, verbose: bool) -> None:
    """Run the Kubernetes operator (what the operator image starts)."""
    import kopf

    from ..controller import main as handlers  # noqa: F401  (registers the handlers)

    if not namespaces and not all_namespaces:
        raise click.UsageError("choose --namespace NS (repeatable) or --all-namespaces")
    exact = not all_namespaces and not any(set(ns) & set("*?[!") for ns in namespaces)
    # kopf.run leaves logging as it finds it; an operator's log is what `kubectl logs` shows.
    kopf.configure(verbose=verbose)
    # kopf names itself after the login user by default, and a container running as a uid without a
    # passwd entry (the chart's 65532) has none: getpass raises. The pod's name is the better identity.
    import os
    import socket

    identity = os.environ.get("POD_NAME") or socket.gethostname()
    kopf.run(standalone=standalone, namespaces=list(namespaces), clusterwide=all_namespaces, liveness_endpoint=liveness,
             identity=identity, memo=kopf.Memo(exact_namespaces=exact))
