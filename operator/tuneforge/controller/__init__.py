"""The operator: kopf handlers (main.py) over pure builders (jobs.py, status.py, chaining.py).

Nothing here imports torch or a backend library; a test enforces it.
"""
