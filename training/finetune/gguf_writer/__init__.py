"""Hugging Face checkpoint → GGUF, so llama.cpp (and Ollama) can serve what we trained.

Our own writer, on the `gguf` library's `GGUFWriter`, converts the common architectures (`ARCHITECTURES`:
Llama, Mistral, Qwen 2, Qwen 3, Gemma 2, Gemma 3, Phi-3) with a byte-level BPE tokenizer (GPT-2, Llama 3 or
Qwen pre-tokenizer) or a SentencePiece-style one (Llama 2, Mistral, Phi-3, Gemma): llama.cpp's tensor names
and hyperparameters, the weight changes each graph expects (`architectures.py`), the vocabulary with its
token types, special ids and chat template (`vocabulary.py`). Any other architecture goes through llama.cpp's
own `convert_hf_to_gguf.py` when `LLAMA_CPP_DIR` names a llama.cpp checkout; without one the error names
the architecture and the supported ones.

Reads the checkpoint's files directly (config.json, tokenizer.json, tokenizer_config.json, *.safetensors),
so it converts any saved model, not only one in memory. Needs the `[train]` extra (torch, gguf).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..errors import GGUFConversionError
from .architectures import ARCHITECTURES, permute_rotary
from .vocabulary import read_json

__all__ = ["ARCHITECTURES", "DTYPES", "convert_to_gguf", "permute_rotary"]

DTYPES = ("f16", "f32")


def convert_to_gguf(model_dir: Path, out_path: Path, *, dtype: str = "f16", llama_cpp_dir: str = "") -> Path:
    """Write `out_path` from the checkpoint in `model_dir`, with our writer or llama.cpp's converter."""
    if dtype not in DTYPES:
        raise GGUFConversionError(f"GGUF dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    config = read_json(model_dir / "config.json")
    names = [name for name in config.get("architectures") or [] if name in ARCHITECTURES]
    if names:
        from .writer import write_gguf

        architecture = ARCHITECTURES[names[0]](names[0], config)  # checks the configuration first
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_gguf(model_dir, out_path, architecture, dtype=dtype)
        return out_path
    if not llama_cpp_dir:
        raise GGUFConversionError(
            f"The built-in GGUF writer does not handle "
            f"{', '.join(config.get('architectures') or []) or 'this checkpoint (config.json names no architecture)'}"
            f"; it converts {', '.join(ARCHITECTURES)}. Set LLAMA_CPP_DIR to a llama.cpp checkout to convert it "
            "with llama.cpp's convert_hf_to_gguf.py."
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _convert_with_llama_cpp(model_dir, out_path, dtype=dtype, llama_cpp_dir=Path(llama_cpp_dir))
    return out_path


def _convert_with_llama_cpp(model_dir: Path, out_path: Path, *, dtype: str, llama_cpp_dir: Path) -> None:
    script = llama_cpp_dir / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise GGUFConversionError(f"LLAMA_CPP_DIR={llama_cpp_dir} has no convert_hf_to_gguf.py")
    command = [sys.executable, str(script), str(model_dir), "--outfile", str(out_path), "--outtype", dtype]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not out_path.is_file():
        raise GGUFConversionError(f"convert_hf_to_gguf.py failed ({result.returncode}): {result.stderr[-2000:]}")
