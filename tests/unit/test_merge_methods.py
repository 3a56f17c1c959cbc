"""The API's merge-method table is mergekit's own registry, so neither can drift from the other."""

import pytest

from tuneforge.api.merge import MERGE_METHODS


def test_table_matches_mergekit_registry():
    mm = pytest.importorskip("mergekit.merge_methods")
    registered = {m.spec.name: m.spec.contract for m in mm.registered_methods()}
    assert set(MERGE_METHODS) == set(registered)
    for name, contract in registered.items():
        ours = MERGE_METHODS[name]
        assert ours.base == contract.base.value, name
        if name == "nuslerp":  # exactly two non-base models, plus an optional base
            assert (contract.min_non_base, contract.max_non_base) == (2, 2)
            continue
        assert (ours.min_inputs, ours.max_inputs) == (contract.min_inputs, contract.max_inputs), name
