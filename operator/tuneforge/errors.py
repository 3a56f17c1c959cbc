"""Errors whose message is for the user: the worker exits 2 (retrying will not help) and prints it."""


class InputError(Exception):
    """A source, dataset or setting that cannot work as given; the message names the field."""


class SourceError(InputError):
    """A source or output location that cannot be read or written; the message is for the user."""


class Preempted(Exception):
    """Training stopped on SIGTERM after saving a checkpoint; the next pod resumes from it."""
