"""The worker: what runs in every worker pod and in local runs (`python -m tuneforge.worker`).
__main__ runs a spec through its backend; outputs.py places and guards the output; record.py writes
the output record; progress.py speaks the progress protocol (which the operator also reads). Light:
the heavy libraries are imported by the backends' run modules only."""
