"""Importance matrix: mean squared activation per input column of every quantizable matrix.

llama.cpp's `llama-imatrix` tool is not part of llama-cpp-python, so the statistics are collected
with forward hooks on the HF model: for a linear layer y = W x, llama.cpp wants sum(x_j^2) over the
tokens seen and the token count, per tensor, under the tensor's GGUF name. The file is written in
llama.cpp's own imatrix GGUF layout (`<tensor>.in_sum2`, `<tensor>.counts`), so `llama-quantize
--imatrix` reads it as well as later tuneforge jobs.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError


@dataclass
class Imatrix:
    sums: dict[str, np.ndarray]
    counts: dict[str, int]
    chunks: int = 0
    chunk_size: int = 0
    datasets: list[str] = field(default_factory=list)
    _keep: list = field(default_factory=list, repr=False)

    def means(self) -> dict[str, np.ndarray]:
        return {name: (s / max(self.counts[name], 1)).astype(np.float32) for name, s in self.sums.items()}

    def as_ctypes(self):
        """A `llama_model_imatrix_data` array ending with a NULL name, as llama_model_quantize reads it."""
        import llama_cpp

        means = self.means()
        array = (llama_cpp.llama_model_imatrix_data * (len(means) + 1))()
        self._keep = []
        for i, (name, values) in enumerate(sorted(means.items())):
            buf = np.ascontiguousarray(values, dtype=np.float32)
            encoded = name.encode()
            self._keep += [buf, encoded]
            array[i].name = encoded
            array[i].data = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            array[i].size = buf.size
        array[len(means)].name = None
        self._keep.append(array)
        return array


def gguf_name_map(arch: str, n_layers: int):
    """HF parameter name -> GGUF tensor name, from gguf-py's table for the model's architecture."""
    import gguf

    by_name = {name: arch_id for arch_id, name in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in by_name:
        raise InputError(f"gguf.imatrix: architecture {arch} is unknown to gguf-py {gguf.__name__}; "
                         "compute the imatrix with llama-imatrix and pass it as gguf.imatrix.uri")
    table = gguf.get_tensor_name_map(by_name[arch], n_layers)
    return lambda hf_name: table.get_name(hf_name, try_suffixes=(".weight",))


def compute(model_dir: Path, texts: list[str], chunks: int, chunk_size: int, arch: str,
            gguf_tensors: set[str], on_chunk=None) -> Imatrix:
    """Run up to `chunks` chunks of `chunk_size` tokens of `texts` through the model, collecting statistics."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    to_gguf = gguf_name_map(arch, model.config.num_hidden_layers)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    hooks = []
    for module_name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        name = to_gguf(f"{module_name}.weight")
        if name is None or name not in gguf_tensors:  # e.g. lm_head tied to the embeddings
            continue

        def hook(_module, inputs, _output, name=name):
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
            sums[name] = sums.get(name, 0) + (x * x).sum(dim=0)
            counts[name] = counts.get(name, 0) + x.shape[0]

        hooks.append(module.register_forward_hook(hook))
    if not hooks:
        raise InputError(f"gguf.imatrix: no linear layer of this {arch} model maps to a GGUF tensor name")

    ids = tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    usable = len(ids) // chunk_size
    if usable == 0:
        raise InputError(f"gguf.imatrix.dataset: the text has {len(ids)} tokens, fewer than one chunk of "
                         f"contextLength {chunk_size}; lower contextLength or use more text")
    done = min(chunks, usable)
    with torch.inference_mode():
        for i in range(done):
            model(torch.tensor([ids[i * chunk_size:(i + 1) * chunk_size]]))
            if on_chunk:
                on_chunk(i + 1, done)
    for h in hooks:
        h.remove()
    return Imatrix({k: v.numpy().astype(np.float32) for k, v in sums.items()}, counts, done, chunk_size)


def save(imatrix: Imatrix, path: Path, arch: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(path, arch)
    writer.add_string("general.type", "imatrix")
    writer.add_array("imatrix.datasets", imatrix.datasets or ["unknown"])
    writer.add_uint32("imatrix.chunk_count", imatrix.chunks)
    writer.add_uint32("imatrix.chunk_size", imatrix.chunk_size)
    for name in sorted(imatrix.sums):
        writer.add_tensor(f"{name}.in_sum2", imatrix.sums[name].reshape(1, -1).astype(np.float32))
        writer.add_tensor(f"{name}.counts", np.array([[imatrix.counts[name]]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load(path: Path) -> Imatrix:
    """Read an imatrix GGUF (from an earlier job or from llama-imatrix)."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:
        raise InputError(f"gguf.imatrix.uri: {path} is not a GGUF imatrix file: {exc}") from exc
    sums, counts = {}, {}
    for tensor in reader.tensors:
        if tensor.name.endswith(".in_sum2"):
            sums[tensor.name.removesuffix(".in_sum2")] = np.array(tensor.data, dtype=np.float32).reshape(-1)
        elif tensor.name.endswith(".counts"):
            counts[tensor.name.removesuffix(".counts")] = int(np.array(tensor.data).reshape(-1)[0])
    if not sums or set(sums) != set(counts):
        raise InputError(f"gguf.imatrix.uri: {path} holds no imatrix data (no <tensor>.in_sum2/.counts pairs)")
    field = reader.fields.get("imatrix.chunk_count")
    chunks = int(field.parts[field.data[0]][0]) if field else 0
    return Imatrix(sums, counts, chunks)
