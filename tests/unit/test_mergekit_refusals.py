"""A refusal raised inside mergekit reaches the user as an input error; anything else keeps its traceback."""

import pytest

from tuneforge.backends.mergekit.run import _refused_by_mergekit


def raised_in(filename: str, exc: BaseException) -> BaseException:
    namespace: dict = {}
    exec(compile("def fail(exc):\n    raise exc\n", filename, "exec"), namespace)
    with pytest.raises(type(exc)) as info:
        namespace["fail"](exc)
    return info.value


def test_a_check_inside_mergekit_is_a_refusal():
    exc = raised_in("/venv/lib/python3.11/site-packages/mergekit/sparsify.py", ValueError("Epsilon must be chosen"))
    assert _refused_by_mergekit(exc)


def test_an_error_elsewhere_is_not():
    assert not _refused_by_mergekit(raised_in("/venv/lib/python3.11/site-packages/torch/functional.py", RuntimeError("x")))
