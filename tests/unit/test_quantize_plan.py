"""Pure planning of quantization: file names, llama.cpp types, recipes, shape checks, the quality math."""

import math

import numpy as np
import pytest
from support.builders import quantize

from tuneforge.api.quantize import QuantizeSpec
from tuneforge.backends import backend_for
from tuneforge.backends.awq.plan import autoawq_config, backend_name, fit_problems, recipe
from tuneforge.backends.common.naming import model_stem
from tuneforge.backends.gguf.plan import base_type, needs_imatrix, targets
from tuneforge.backends.quality import Scores, log_softmax, table, token_chunks
from tuneforge.api.manifest import parse

SMOL = {"hidden_size": 576, "intermediate_size": 1536}


def spec(method, **settings):
    body = {"method": method, "model": {"uri": "builtin://smollm2-135m-instruct"}}
    if settings:
        body[method] = settings
    return QuantizeSpec.model_validate(body)


def test_gguf_file_names_and_llama_cpp_types():
    found = targets(spec("gguf", types=["q4_k_m", "f16", "iq2_xs"], imatrix={}).settings(), "smol")
    assert [(t.file, t.ftype) for t in found] == [
        ("smol-q4_k_m.gguf", "LLAMA_FTYPE_MOSTLY_Q4_K_M"),
        ("smol-f16.gguf", "LLAMA_FTYPE_MOSTLY_F16"),
        ("smol-iq2_xs.gguf", "LLAMA_FTYPE_MOSTLY_IQ2_XS"),
    ]
    assert targets(spec("gguf", types=["f32"]).settings(), "m")[0].ftype == "LLAMA_FTYPE_ALL_F32"


def test_every_api_type_is_a_llama_cpp_file_type():
    llama_cpp = pytest.importorskip("llama_cpp")
    from tuneforge.api.quantize import GGUF_TYPES

    for t in targets(spec("gguf", types=list(GGUF_TYPES), imatrix={}).settings(), "m"):
        assert hasattr(llama_cpp, t.ftype), t.type


@pytest.mark.parametrize("uri,stem", [
    ("builtin://smollm2-135m-instruct", "smollm2-135m-instruct"),
    ("hf://meta-llama/Llama-3.1-8B-Instruct@main", "Llama-3.1-8B-Instruct"),
    ("file:///out/smol-tuned/model", "smol-tuned"),
    ("pvc://models/my model/", "my-model"),
])
def test_model_stem(uri, stem):
    assert model_stem(uri) == stem


def test_base_type_and_imatrix_need():
    assert base_type("bfloat16") == "bf16" and base_type("float32") == "f16" and base_type(None) == "f16"
    assert not needs_imatrix(spec("gguf", types=["q4_k_m"]).settings())
    assert needs_imatrix(spec("gguf", types=["q4_k_m"], imatrix={}).settings())


def test_awq_recipe_is_a_transform_then_quantization():
    steps = recipe(spec("awq", groupSize=64, symmetric=True))
    assert [name for name, _ in steps] == ["AWQModifier", "QuantizationModifier"]
    weights = steps[1][1]["config_groups"]["group_0"]["weights"]
    assert weights == {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 64}
    assert steps[1][1]["ignore"] == ["lm_head"]


def test_gptq_recipe_and_per_channel():
    (name, args), = recipe(spec("gptq", bits=8, groupSize=-1, dampeningFraction=0.05))
    assert name == "GPTQModifier" and args["dampening_frac"] == 0.05
    assert args["config_groups"]["group_0"]["weights"]["strategy"] == "channel"


def test_autoawq_engine_has_its_own_image_and_config():
    s = spec("awq", engine="autoawq", groupSize=64, version="gemv")
    assert backend_name(s) == "autoawq" and backend_name(spec("awq")) == "awq"
    assert autoawq_config(s.settings()) == {"w_bit": 4, "q_group_size": 64, "zero_point": True, "version": "GEMV"}
    resource, issues = parse(dict(quantize("awq", name="a").set("spec.awq", {"engine": "autoawq"})))
    assert issues == [] and backend_for(resource).worker_plan(resource).backend == "autoawq"


def test_group_size_must_divide_the_hidden_sizes():
    (path, message, severity), = fit_problems(spec("awq", groupSize=128), SMOL)
    assert severity == "error"
    assert path == "awq.groupSize"
    assert message == "128 does not divide the model's hidden_size 576; group sizes that fit: 32, 64"
    assert fit_problems(spec("gptq", groupSize=64), SMOL) == []
    assert fit_problems(spec("gptq", groupSize=-1), SMOL) == []


def test_scores_match_hand_computed_values():
    vocab = 4
    chunk = [0, 1, 2, 3]
    uniform = log_softmax(np.zeros((4, vocab)))
    s = Scores()
    s.add(uniform, chunk, uniform)
    # Scored positions: the second half (index 2 predicts token 3).
    assert s.tokens == 1 and math.isclose(s.summary(True)["perplexity"], vocab, rel_tol=1e-4)
    assert s.summary(True)["klDivergence"] == 0 and s.summary(True)["top1Agreement"] == 1
    peaked = log_softmax(np.array([[0, 0, 0, 5.0]] * 4))
    s2 = Scores()
    s2.add(uniform, chunk, peaked)
    p = np.exp(peaked[2])
    assert math.isclose(s2.summary(True)["klDivergence"], float((p * (np.log(p) - np.log(0.25))).sum()), rel_tol=1e-3)


def test_token_chunks_drop_the_short_tail():
    assert token_chunks(list(range(10)), 4, 100) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert token_chunks(list(range(10)), 4, 6) == [[0, 1, 2, 3]]


def test_table_prints_missing_values_as_dashes():
    lines = table([{"type": "q4_k_m", "sizeBytes": 105_000_000, "bitsPerWeight": 6.27}])
    assert lines[1].split() == ["q4_k_m", "105.0", "6.27", "-", "-", "-"]


def test_scores_are_the_same_from_every_position_or_the_scored_ones_only():
    from tuneforge.backends.quality import scored

    rng = np.random.default_rng(0)
    chunk = [0, 1, 2, 3, 4, 0, 1, 2]
    full, ref = log_softmax(rng.normal(size=(8, 5))), log_softmax(rng.normal(size=(8, 5)))
    a, b = Scores(), Scores()
    a.add(full, chunk, ref)
    b.add(full[scored(8)], chunk, ref[scored(8)])
    assert a.summary(True) == b.summary(True) and a.tokens == 3


def test_the_reference_table_holds_what_the_backend_gives(tmp_path):
    from tuneforge.backends.quality import ReferenceTable, scored

    rng = np.random.default_rng(1)
    chunks = [[0, 1, 2, 3, 4, 0, 1, 2], [2, 1, 0, 4, 3, 2, 1, 0]]
    tables = {n: log_softmax(rng.normal(size=(8, 5))) for n in range(2)}
    full = ReferenceTable(chunks, lambda c: tables[chunks.index(c)], tmp_path / "a.npy")
    half = ReferenceTable(chunks, lambda c: tables[chunks.index(c)][scored(8)], tmp_path / "b.npy")
    assert half.table.shape == (2, 3, 5) and full.summary() == half.summary()
    assert full.measure(lambda c: tables[chunks.index(c)]) == half.measure(lambda c: tables[chunks.index(c)][scored(8)])
