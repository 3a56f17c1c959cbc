from tuneforge.worker import record


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


def test_background_digests_are_used_only_for_unchanged_files(tmp_path):
    import hashlib
    import os

    from tuneforge.worker import record

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    digests = record.Digests()
    digests.add(a)
    digests.add(b)
    b.write_bytes(b"changed after hashing")
    os.utime(b, ns=(1, 1))  # a different mtime even on coarse clocks
    files = {f["path"]: f["sha256"] for f in record.list_files(tmp_path, digests=digests)}
    assert files == {"a.bin": hashlib.sha256(b"first").hexdigest(),
                     "b.bin": hashlib.sha256(b"changed after hashing").hexdigest()}
