"""Write a checkpoint as GGUF with the `gguf` library: the shared header, the architecture's own keys, the
vocabulary, and the tensors under llama.cpp's names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import GGUFConversionError
from .architectures import Architecture
from .vocabulary import Vocabulary


def _tensors(model_dir: Path) -> Iterator[tuple[str, Any]]:
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise GGUFConversionError(f"no *.safetensors weights in {model_dir}")
    for path in files:
        with safe_open(str(path), framework="pt") as weights:
            for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                yield name, weights.get_tensor(name)


def write_gguf(model_dir: Path, out_path: Path, architecture: Architecture, *, dtype: str) -> None:
    """Write the checkpoint in `model_dir`: f16 (or f32) matrices, f32 vectors (norms, biases)."""
    import gguf
    import numpy as np

    vocab = Vocabulary(model_dir, int(architecture.config["vocab_size"]))
    writer = gguf.GGUFWriter(str(out_path), architecture.gguf_arch)
    writer.add_name(model_dir.name)
    writer.add_vocab_size(len(vocab.tokens))
    architecture.write_hparams(writer)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    vocab.write(writer, model_dir)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[architecture.gguf_arch.upper()], architecture.n_layers)
    for hf_name, tensor in _tensors(model_dir):
        if architecture.skips(hf_name):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFConversionError(f"no llama.cpp tensor name for {hf_name!r} in a {architecture.name} model")
        data = architecture.convert(hf_name, tensor.float().numpy())
        # llama.cpp keeps vectors (norms, biases) in f32 whatever the file type.
        data = data.astype(np.float16 if dtype == "f16" and data.ndim > 1 else np.float32)
        writer.add_tensor(name, data)
    for name, data in architecture.extra_tensors().items():
        writer.add_tensor(name, data)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
