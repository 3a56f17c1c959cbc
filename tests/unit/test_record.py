from tuneforge import record


def test_record_lists_every_file_with_size_and_hash(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.safetensors").write_bytes(b"abc")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "state").write_bytes(b"scratch")
    raw = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob", "metadata": {"name": "x"}, "spec": {"method": "lora"}}
    rec = record.write(tmp_path, raw, {"model": {"uri": "builtin://m"}}, {"model": "model"}, {"finalLoss": 1.0},
                       skip=("checkpoints",))
    assert rec["files"] == [{
        "path": "model/w.safetensors", "size": 3,
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    }]
    assert record.mismatches(tmp_path) == []
    (tmp_path / "model" / "w.safetensors").write_bytes(b"abd")
    (tmp_path / "extra.txt").write_text("x")
    assert record.mismatches(tmp_path) == ["extra.txt: present but not listed", "model/w.safetensors: size or sha256 differs"]
