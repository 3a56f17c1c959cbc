"""Two QuantizeJobs of one model convert it to f16 once and measure the unquantized reference once:
the second takes both from the shared cache, by the model's content digest, and measures the same."""

import pytest
import yaml
from support.builders import quantize
from support.run import tuneforge

from tuneforge.sources.cache import cache_root
from tuneforge.worker import record

pytestmark = pytest.mark.slow


def test_two_jobs_of_one_model_convert_and_measure_once(tmp_path, monkeypatch):
    # An empty cache of conversions, with the built-in model already materialized (not this test's subject).
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(cache_root() / "models")
    monkeypatch.setenv("TUNEFORGE_CACHE", str(cache))
    docs = [dict(quantize(name=name).set("spec.gguf", {"types": types}).set("spec.evaluation", {"maxTokens": 1024}))
            for name, types in (("first", ["q8_0"]), ("second", ["q4_k_m", "q8_0"]))]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc = tuneforge("run", str(path), "--output", str(tmp_path / "out"), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = (record.read(tmp_path / "out" / name)["metrics"] for name in ("first", "second"))
    assert first["conversion"]["fromCache"] is False and second["conversion"]["fromCache"] is True
    assert first["conversion"]["modelDigest"] == second["conversion"]["modelDigest"]
    assert first["reference"]["fromCache"] is False and second["reference"]["fromCache"] is True
    log = (tmp_path / "out" / "second.log").read_text()
    assert "comes from the shared cache" in log and "hf-to-gguf" not in log
    assert len(list((cache / "gguf").glob("*/model.gguf"))) == 1
    # The reference read back from the cache gives exactly what the first job measured fresh.
    q8 = [next(r for r in m["quality"] if r["type"] == "q8_0") for m in (first, second)]
    keys = ("perplexity", "top1Agreement", "klDivergence")
    assert [q8[0][k] for k in keys] == [q8[1][k] for k in keys]
    assert first["reference"]["perplexity"] == second["reference"]["perplexity"]
