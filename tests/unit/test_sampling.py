from tuneforge.backends.sampling import AUTO_LIMIT_BYTES, wanted


def test_auto_samples_only_small_models(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x" * 10)
    assert wanted("auto", tmp_path)
    assert not wanted("off", tmp_path)
    with open(weights, "r+b") as handle:
        handle.truncate(AUTO_LIMIT_BYTES + 1)
    assert not wanted("auto", tmp_path) and wanted("on", tmp_path)
    assert not wanted("auto", tmp_path / "missing")
