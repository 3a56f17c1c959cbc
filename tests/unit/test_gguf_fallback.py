"""llama.cpp's fallback log, read back from file descriptor 2, and types the report cannot tell apart."""

import os

from tuneforge.backends.gguf import fallback

LOG = """\
warning: blk.0.attn_k.weight                  - ncols    576 not divisible by 256 (required for type    q2_K) -> falling back to    q4_0
warning: blk.0.attn_output.weight             - ncols    576 not divisible by 256 (required for type    q3_K) -> falling back to    q4_0
warning: blk.0.ffn_down.weight                - ncols   1536 ... -> falling back to    q5_0
llama_model_quantize_impl: WARNING: 3 of 272 tensor(s) required fallback quantization"""


def test_parse_counts_each_fallback_type_and_the_summary():
    assert fallback.parse(LOG.splitlines()) == {"tensors": 3, "of": 272, "to": {"q4_0": 2, "q5_0": 1}}
    assert fallback.parse(["[ 1/ 2] token_embd.weight - converting to q8_0"]) == {"tensors": 0, "of": None, "to": {}}


def test_writes_to_fd_2_from_c_code_are_captured_and_passed_on(capfd):
    with fallback.stderr_lines() as lines:
        os.write(2, b"falling back to q4_0\n")
    assert lines == ["falling back to q4_0"]
    assert "falling back to q4_0" in capfd.readouterr().err


def test_alike_marks_only_exact_twins():
    rows = [{"type": t, "sizeBytes": s, "perplexity": p, "top1Agreement": 0.9, "klDivergence": 0.1}
            for t, s, p in (("q2_k", 88, 20.5), ("q3_k_s", 88, 20.5), ("q3_k_m", 88, 20.4), ("q8_0", 140, 19.0))]
    fallback.alike(rows)
    assert [r.get("indistinguishableFrom") for r in rows] == [["q3_k_s"], ["q2_k"], None, None]
