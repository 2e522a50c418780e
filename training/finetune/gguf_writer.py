"""Hugging Face checkpoint → GGUF, so llama.cpp (and Ollama) can serve what we trained.

Llama-architecture models with a byte-level BPE tokenizer are written by our own writer on the `gguf`
library's `GGUFWriter`: llama.cpp's tensor names, the Q/K permutation its rotary embedding expects, the BPE
vocabulary with its merges, token types and special ids, and the chat template. Any other architecture goes
through llama.cpp's own `convert_hf_to_gguf.py` when `LLAMA_CPP_DIR` names a llama.cpp checkout; without
one the error says so.

Reads the checkpoint's files directly (config.json, tokenizer.json, tokenizer_config.json, *.safetensors),
so it converts any saved model, not only one in memory. Needs the `[train]` extra (torch, gguf).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import GGUFConversionError

LLAMA_ARCHITECTURES = {"LlamaForCausalLM"}
DTYPES = ("f16", "f32")

# llama.cpp names each BPE pre-tokenizer by the regular expression it splits with; these are the two that a
# byte-level BPE tokenizer on a Llama-architecture model uses (GPT-2's, and Llama 3's).
LLAMA3_PRE_TOKENIZER_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GGUFConversionError(f"{path.name} is missing from {path.parent}") from None


def convert_to_gguf(model_dir: Path, out_path: Path, *, dtype: str = "f16", llama_cpp_dir: str = "") -> Path:
    """Write `out_path` from the checkpoint in `model_dir`, with our writer or llama.cpp's converter."""
    if dtype not in DTYPES:
        raise GGUFConversionError(f"GGUF dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    config = _read_json(model_dir / "config.json")
    architectures = set(config.get("architectures") or [])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if architectures & LLAMA_ARCHITECTURES:
        write_llama_gguf(model_dir, out_path, dtype=dtype)
        return out_path
    if not llama_cpp_dir:
        raise GGUFConversionError(
            f"The built-in GGUF writer handles Llama-architecture models only; this one is "
            f"{', '.join(sorted(architectures)) or 'of an unknown architecture'}. Set LLAMA_CPP_DIR to a llama.cpp "
            "checkout to convert it with llama.cpp's convert_hf_to_gguf.py."
        )
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


# --- the Llama writer -------------------------------------------------------------------------------------


def permute_rotary(weight: Any, n_head: int) -> Any:
    """Reorder the rows of a Q or K projection from Hugging Face's rotary layout to llama.cpp's.

    Hugging Face rotates the two halves of each head (`rotate_half`); llama.cpp's Llama graph rotates
    adjacent pairs. Interleaving each head's halves makes the same weights compute the same attention.
    """
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _rope_settings(config: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """(rope theta, scaling) from either config layout: transformers 4 (`rope_theta`, `rope_scaling`) or 5
    (`rope_parameters`)."""
    parameters = config.get("rope_parameters") or {}
    theta = float(parameters.get("rope_theta", config.get("rope_theta", 10000.0)))
    scaling = dict(config.get("rope_scaling") or {})
    if parameters.get("rope_type", "default") != "default":
        scaling = {**parameters, "type": parameters["rope_type"]}
    kind = scaling.get("type") or scaling.get("rope_type") or "default"
    if kind not in ("default", "linear"):
        raise GGUFConversionError(
            f"rope scaling {kind!r} is not supported by the built-in GGUF writer; set LLAMA_CPP_DIR to a llama.cpp "
            "checkout to convert this model with convert_hf_to_gguf.py."
        )
    return theta, scaling if kind == "linear" else {}


def _pre_tokenizer_name(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, or a clear error for one it would split differently."""
    pre = tokenizer.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers") or []
        if (
            len(steps) == 2
            and steps[0].get("type") == "Split"
            and (steps[0].get("pattern") or {}).get("Regex") == LLAMA3_PRE_TOKENIZER_PATTERN
            and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)
        ):
            return "llama-bpe"
    raise GGUFConversionError(
        "The built-in GGUF writer knows the GPT-2 and Llama 3 byte-level pre-tokenizers only; this tokenizer "
        "splits text another way. Set LLAMA_CPP_DIR to a llama.cpp checkout to convert it with convert_hf_to_gguf.py."
    )


class _Vocabulary:
    """The tokenizer as llama.cpp's BPE ("gpt2") tokenizer reads it."""

    def __init__(self, model_dir: Path, vocab_size: int) -> None:
        tokenizer = _read_json(model_dir / "tokenizer.json")
        self.config = _read_json(model_dir / "tokenizer_config.json")
        model = tokenizer.get("model") or {}
        if model.get("type") != "BPE" or (tokenizer.get("decoder") or {}).get("type") != "ByteLevel":
            raise GGUFConversionError(
                "The built-in GGUF writer handles byte-level BPE tokenizers only (tokenizer.json model BPE, decoder "
                "ByteLevel). Set LLAMA_CPP_DIR to a llama.cpp checkout to convert this model."
            )
        self.pre = _pre_tokenizer_name(tokenizer)
        by_id: dict[int, str] = {index: token for token, index in model["vocab"].items()}
        special: set[int] = set()
        for added in tokenizer.get("added_tokens") or []:
            by_id[added["id"]] = added["content"]
            if added.get("special"):
                special.add(added["id"])
        self.ids = {token: index for index, token in by_id.items()}
        size = max(vocab_size, max(by_id) + 1)
        # Embedding rows past the tokenizer's last id exist in some checkpoints (padded for speed): llama.cpp
        # needs a token for each, marked unused, as llama.cpp's own converter writes them.
        self.tokens = [by_id.get(index, f"[PAD{index}]") for index in range(size)]
        self.types = [
            3 if index in special else 1 if index in by_id else 5  # CONTROL, NORMAL, UNUSED (gguf.TokenType)
            for index in range(size)
        ]
        self.merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges") or []]
        self.add_bos = self._adds_bos(tokenizer)

    def token_id(self, name: str) -> int | None:
        token = self.config.get(name)
        if isinstance(token, dict):  # older tokenizer_config.json files store AddedToken objects
            token = token.get("content")
        return self.ids.get(token) if isinstance(token, str) else None

    def _adds_bos(self, tokenizer: dict[str, Any]) -> bool:
        if isinstance(self.config.get("add_bos_token"), bool):
            return self.config["add_bos_token"]
        processor = tokenizer.get("post_processor") or {}
        steps = processor.get("processors", [processor]) if processor.get("type") == "Sequence" else [processor]
        bos = self.config.get("bos_token")
        for step in steps:
            single = step.get("single") or []
            if step.get("type") == "TemplateProcessing" and single and "SpecialToken" in single[0]:
                return single[0]["SpecialToken"]["id"] == bos
        return False


def _tensors(model_dir: Path) -> Iterator[tuple[str, Any]]:
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise GGUFConversionError(f"no *.safetensors weights in {model_dir}")
    for path in files:
        with safe_open(str(path), framework="pt") as weights:
            for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                yield name, weights.get_tensor(name)


def write_llama_gguf(model_dir: Path, out_path: Path, *, dtype: str = "f16") -> None:
    """Write a Llama-architecture checkpoint as GGUF: f16 (or f32) matrices, f32 norms."""
    import gguf
    import numpy as np

    config = _read_json(model_dir / "config.json")
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    theta, scaling = _rope_settings(config)
    vocab = _Vocabulary(model_dir, int(config["vocab_size"]))

    writer = gguf.GGUFWriter(str(out_path), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_name(model_dir.name)
    writer.add_vocab_size(len(vocab.tokens))
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(theta)
    if scaling:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    for name, add in (
        ("bos_token", writer.add_bos_token_id),
        ("eos_token", writer.add_eos_token_id),
        ("pad_token", writer.add_pad_token_id),
        ("unk_token", writer.add_unk_token_id),
    ):
        token_id = vocab.token_id(name)
        if token_id is not None:
            add(token_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    template = vocab.config.get("chat_template")
    if not template and (model_dir / "chat_template.jinja").is_file():
        template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    if template:
        writer.add_chat_template(template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    tied = bool(config.get("tie_word_embeddings"))
    for hf_name, tensor in _tensors(model_dir):
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue  # recomputed by llama.cpp / the same matrix as the embeddings
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFConversionError(f"no llama.cpp tensor name for {hf_name!r}")
        data = tensor.float().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = permute_rotary(data, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = permute_rotary(data, n_head_kv)
        # llama.cpp keeps vectors (norms, biases) in f32 whatever the file type.
        data = data.astype(np.float16 if dtype == "f16" and data.ndim > 1 else np.float32)
        writer.add_tensor(name, data)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
