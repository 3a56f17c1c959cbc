"""What mergekit would refuse at run time is refused by validation first, naming the field."""

import pytest
from support.builders import merge

from tuneforge.api.manifest import parse

A, B, C = ({"uri": f"hf://org/model-{x}"} for x in "abc")
BASE = {"uri": "builtin://smollm2-135m-instruct"}


def models(*entries):
    return [{"model": m, **({"parameters": p} if p else {})} for m, p in entries]


CASES = [
    # mergekit: "Epsilon must be chosen such that density +/- epsilon is in (0, 1)", mid-merge.
    (merge("della").set("spec.models", models((A, {"weight": 1, "density": 0.9}))),
     "spec.models[0].parameters.density: della keeps density +/- epsilon inside (0, 1): density 0.9 with epsilon 0.15 "
     "gives 0.75..1.05; lower epsilon (default 0.15) or move density away from 0 and 1"),
    (merge("della_linear").set("spec.models", models((A, {"weight": 1, "density": 0.5}))).set("spec.parameters", {"epsilon": 0.6}),
     "spec.parameters.epsilon: della_linear keeps density +/- epsilon inside (0, 1): density 0.5 with epsilon 0.6"),
    # mergekit ignores names it does not know: a misspelt density would silently merge without it.
    (merge("ties").set("spec.models", models((A, {"weight": 1, "densty": 0.5}))),
     "spec.models[0].parameters.densty: ties takes no parameter 'densty'; did you mean density? (it takes: int8_mask, "
     "normalize, rescale, lambda, weight, density)"),
    (merge("arcee_fusion").set("spec.models", models((BASE, None), (A, {"weight": 1}))),
     "spec.models[1].parameters.weight: arcee_fusion takes no parameter 'weight' (it takes: none)"),
    # ... and reads a shared value only from spec.parameters.
    (merge("slerp").set("spec.models", models((BASE, {"t": 0.5}), (A, None))),
     "spec.models[0].parameters.t: t is one value for the whole merge: set it under spec.parameters"),
    (merge("ties").set("spec.parameters", {"normalize": "yes"}), "spec.parameters.normalize: normalize is true or false, got 'yes'"),
    (merge("linear").set("spec.models", models((A, {"weight": "0.5"}), (B, {"weight": 1}))),
     "spec.models[0].parameters.weight: weight must be a number, got '0.5'"),
    (merge("karcher").set("spec.parameters", {"max_iter": 2.5}), "spec.parameters.max_iter: max_iter must be a whole number, got 2.5"),
    (merge("breadcrumbs").set("spec.models", models((A, {"weight": 1, "gamma": 1.5}))),
     "spec.models[0].parameters.gamma: gamma must be between 0 and 1, got 1.5"),
    # mergekit: "Missing required parameter weight for task_arithmetic".
    (merge("task_arithmetic").set("spec.models", models((A, {"weight": 1}), (B, None))),
     "spec.models[1].parameters.weight: task_arithmetic needs a weight for every model: set weight here, or once under spec.parameters"),
    (merge("nearswap").drop("spec.parameters").set("spec.models", models((BASE, None), (A, None))),
     "spec.parameters.t: nearswap needs the similarity threshold t"),
    # mergekit's input contracts: nuslerp takes exactly two models besides an optional base.
    (merge("nuslerp").drop("spec.baseModel").set("spec.models", models((A, {"weight": 1}), (B, {"weight": 1}), (C, {"weight": 1}))),
     "spec.models: method nuslerp merges exactly 2 models other than the baseModel, got 3"),
    (merge("multislerp").set("spec.models", models((BASE, {"weight": 1}))),
     "spec.models: method multislerp merges at least 1 model other than the baseModel, got 0"),
    # mergekit: "All inputs to a slice must contain the same number of layers".
    (merge("passthrough").set("spec.slices", [{"sources": [{"model": A, "layerRange": [0, 4]}, {"model": B, "layerRange": [0, 6]}]}]),
     "spec.slices[0].sources: the sources of one slice are merged layer by layer, so they need the same number of "
     "layers; their layerRanges span 4, 6"),
]


@pytest.mark.parametrize("doc, expected", CASES, ids=[c[1][:70] for c in CASES])
def test_refused_with_the_field_named(doc, expected):
    _, issues = parse(dict(doc))
    lines = [f"{issue.path}: {issue.message}" for issue in issues]
    assert any(line.startswith(expected) for line in lines), lines


@pytest.mark.parametrize("method", ["della", "della_linear", "breadcrumbs", "breadcrumbs_ties", "model_stock", "sce",
                                    "nuslerp", "multislerp", "karcher", "nearswap", "arcee_fusion", "ram", "ramplus_tl"])
def test_the_builders_spec_of_every_method_is_valid(method):
    doc = merge(method)
    if method == "model_stock":
        doc = doc.set("spec.models", models((A, None), (B, None)))
    if method == "nuslerp":
        doc = doc.drop("spec.baseModel").set("spec.models", models((A, {"weight": 1}), (B, {"weight": 1})))
    if method == "nearswap":
        doc = doc.set("spec.parameters", {"t": 0.001})
    _, issues = parse(dict(doc))
    assert issues == []
