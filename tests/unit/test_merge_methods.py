"""The API's merge-method tables are mergekit's own registry, so neither can drift from the other."""

import pytest

from tuneforge.api.merge import MERGE_METHODS
from tuneforge.api.merge_parameters import PARAMETERS

KINDS = {bool: "bool", float: "float", int: "int"}


def test_table_matches_mergekit_registry():
    mm = pytest.importorskip("mergekit.merge_methods")
    registered = {m.spec.name: m.spec for m in mm.registered_methods()}
    assert set(MERGE_METHODS) == set(registered) == set(PARAMETERS)
    for name, spec in registered.items():
        ours, contract = MERGE_METHODS[name], spec.contract
        assert ours.base == contract.base.value, name
        assert (ours.min_inputs, ours.max_inputs) == (contract.min_inputs, contract.max_inputs), name
        assert (ours.min_non_base, ours.max_non_base) == (contract.min_non_base, contract.max_non_base), name
        theirs = {p.name: (p.scope.value, KINDS.get(p.value_type, "float_or_none"), p.required) for p in spec.parameters}
        assert {n: tuple(p) for n, p in PARAMETERS[name].items()} == theirs, name
