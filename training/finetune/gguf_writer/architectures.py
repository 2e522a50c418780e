"""What each supported architecture needs in GGUF beyond the shared keys: llama.cpp's architecture name, its
extra hyperparameters, and the changes its graph expects in the weights.

Each class checks the configuration first (`check`), so a checkpoint that llama.cpp would compute
differently is refused before any tensor is read. Reproduces llama.cpp's conventions, not its code:
- Llama / Mistral: llama.cpp rotates adjacent pairs, so Q and K rows are interleaved per head.
- Qwen 2 / Qwen 3 / Phi-3 / Gemma: rotate halves as Hugging Face does (NEOX rope), no permutation; Qwen 3 and
  Gemma 3 normalise Q and K per head; Phi-3 keeps its fused qkv_proj and gate_up_proj.
- Gemma 2 / 3: RMSNorm weights are stored as 1 + w (Hugging Face computes x·(1 + w), llama.cpp x·w), the
  embeddings are scaled by √hidden in the graph, layers alternate sliding-window and global attention.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..errors import GGUFConversionError


def permute_rotary(weight: Any, n_head: int) -> Any:
    """Reorder the rows of a Q or K projection (or bias) from Hugging Face's rotary layout to llama.cpp's.

    Hugging Face rotates the two halves of each head (`rotate_half`); llama.cpp's Llama graph rotates
    adjacent pairs. Interleaving each head's halves makes the same weights compute the same attention.
    """
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _refuse(architecture: str, reason: str) -> GGUFConversionError:
    return GGUFConversionError(
        f"The built-in GGUF writer cannot convert this {architecture} checkpoint: {reason}. Set LLAMA_CPP_DIR to a "
        "llama.cpp checkout to convert it with convert_hf_to_gguf.py."
    )


def _rope(config: dict[str, Any], architecture: str, *, layer_type: str = "full_attention") -> tuple[float, float]:
    """(rope theta, linear scaling factor; 1.0 for none) from either config layout: transformers 4
    (`rope_theta`, `rope_scaling`) or 5 (`rope_parameters`, per layer type for Gemma 3)."""
    parameters = config.get("rope_parameters") or {}
    if layer_type in parameters:
        parameters = parameters[layer_type] or {}
    theta = float(parameters.get("rope_theta", config.get("rope_theta", 10000.0)))
    scaling = dict(config.get("rope_scaling") or {})
    if parameters.get("rope_type", "default") != "default":
        scaling = {**parameters, "type": parameters["rope_type"]}
    kind = scaling.get("type") or scaling.get("rope_type") or "default"
    if kind not in ("default", "linear"):
        raise _refuse(architecture, f"rope scaling {kind!r} is not supported (default and linear are)")
    return theta, float(scaling["factor"]) if kind == "linear" else 1.0


class Architecture:
    """A Llama-like decoder: the keys and tensors every supported architecture shares."""

    gguf_arch: ClassVar[str] = "llama"
    hidden_act: ClassVar[str] = "silu"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.config = config
        missing = [key for key in ("num_hidden_layers", "num_attention_heads", "hidden_size") if key not in config]
        if missing:
            raise GGUFConversionError(f"config.json of this {name} checkpoint has no {', '.join(missing)}")
        self.n_layers = int(config["num_hidden_layers"])
        self.n_head = int(config["num_attention_heads"])
        self.n_head_kv = int(config.get("num_key_value_heads") or self.n_head)
        self.hidden = int(config["hidden_size"])
        self.head_dim = int(config.get("head_dim") or self.hidden // self.n_head)
        self.tied = bool(config.get("tie_word_embeddings"))
        self.check()

    def check(self) -> None:
        """Refuse a configuration llama.cpp would compute differently, before any long work."""
        act = self.config.get("hidden_act") or self.config.get("hidden_activation") or self.hidden_act
        if act != self.hidden_act:
            raise _refuse(self.name, f"activation {act!r} (llama.cpp's graph uses {self.hidden_act})")
        self.rope = self.rope_settings()

    def rope_settings(self) -> tuple[float, float]:
        return _rope(self.config, self.name)

    def write_hparams(self, writer: Any) -> None:
        import gguf

        config = self.config
        writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
        writer.add_embedding_length(self.hidden)
        writer.add_block_count(self.n_layers)
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_head_count(self.n_head)
        writer.add_head_count_kv(self.n_head_kv)
        writer.add_key_length(self.head_dim)
        writer.add_value_length(self.head_dim)
        rotary = config.get("partial_rotary_factor") or (config.get("rope_parameters") or {}).get(
            "partial_rotary_factor"
        )
        writer.add_rope_dimension_count(int(self.head_dim * float(rotary or 1.0)))
        theta, factor = self.rope
        writer.add_rope_freq_base(theta)
        if factor != 1.0:
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(factor)
        writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))

    def skips(self, hf_name: str) -> bool:
        """Tensors llama.cpp does not read: recomputed rotary frequencies, a tied output matrix."""
        return hf_name.endswith("rotary_emb.inv_freq") or (self.tied and hf_name == "lm_head.weight")

    def convert(self, hf_name: str, data: Any) -> Any:
        """The tensor as llama.cpp's graph expects it (float32 numpy array in, same out)."""
        return data

    def extra_tensors(self) -> dict[str, Any]:
        """Tensors llama.cpp needs that the checkpoint does not store, by GGUF name."""
        return {}


class Llama(Architecture):
    """LlamaForCausalLM and MistralForCausalLM (llama.cpp runs Mistral as Llama, without a sliding window)."""

    def convert(self, hf_name: str, data: Any) -> Any:
        if ".q_proj." in hf_name:
            return permute_rotary(data, self.n_head)
        if ".k_proj." in hf_name:
            return permute_rotary(data, self.n_head_kv)
        return data


class Qwen2(Architecture):
    gguf_arch = "qwen2"

    def check(self) -> None:
        super().check()
        if self.config.get("use_sliding_window") or "sliding_attention" in (self.config.get("layer_types") or []):
            raise _refuse(self.name, "it uses a sliding window, which llama.cpp's qwen2 graph does not")


class Qwen3(Qwen2):
    gguf_arch = "qwen3"


class Phi3(Architecture):
    """Phi-3 and Phi-3.5 (dense): llama.cpp keeps qkv_proj and gate_up_proj fused, as Hugging Face does.
    With LongRoPE, llama.cpp picks the long factors by its context size (longer than the original context)
    where transformers picks them by the sequence's length, so a file served with a longer context computes
    otherwise on short prompts. llama.cpp does not apply Phi-3's sliding window: logits match up to that
    many tokens (2047 for Phi-3-mini)."""

    gguf_arch = "phi3"
    longrope: dict[str, Any] | None = None

    def rope_settings(self) -> tuple[float, float]:
        config = self.config
        parameters = config.get("rope_parameters") or {}
        scaling = parameters if parameters.get("rope_type") == "longrope" else dict(config.get("rope_scaling") or {})
        if (scaling.get("type") or scaling.get("rope_type")) not in ("longrope", "su"):
            return super().rope_settings()
        # LongRoPE divides each rotary frequency by a factor (short ones up to the original context, long
        # ones beyond) and scales cos and sin by an attention factor: llama.cpp reads the factors as two
        # tensors and picks the long ones when its context is longer than the original one.
        maximum = int(config.get("max_position_embeddings") or 4096)
        original = int(
            config.get("original_max_position_embeddings") or scaling.get("original_max_position_embeddings") or maximum
        )
        factor = float(scaling.get("factor") or maximum / original)
        attention = scaling.get("attention_factor") or (
            1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
        )
        self.longrope = {
            "long": scaling["long_factor"],
            "short": scaling["short_factor"],
            "original": original,
            "attention": float(attention),
        }
        return float(parameters.get("rope_theta", config.get("rope_theta", 10000.0))), 1.0

    def write_hparams(self, writer: Any) -> None:
        super().write_hparams(writer)
        if self.longrope:
            writer.add_rope_scaling_attn_factors(self.longrope["attention"])
            writer.add_rope_scaling_orig_ctx_len(self.longrope["original"])

    def extra_tensors(self) -> dict[str, Any]:
        import numpy as np

        if not self.longrope:
            return {}
        return {
            "rope_factors_long.weight": np.array(self.longrope["long"], dtype=np.float32),
            "rope_factors_short.weight": np.array(self.longrope["short"], dtype=np.float32),
        }


class Gemma(Architecture):
    """What Gemma 2 and Gemma 3 share: (1 + w) norms, tanh-GELU, sliding-window layers and llama.cpp's
    fixed attention scale."""

    hidden_act = "gelu_pytorch_tanh"
    default_pattern: ClassVar[int] = 2  # every n-th layer global, the others sliding
    large_layers: ClassVar[int] = 0  # the 27B model, for which llama.cpp scales attention by hidden/heads

    def check(self) -> None:
        super().check()
        # llama.cpp scales queries by 1/√head_dim (1/√(hidden/heads) for the 27B): Hugging Face by
        # query_pre_attn_scalar^-½. A checkpoint where they differ would compute other attention.
        expected = self.hidden // self.n_head if self.n_layers == self.large_layers else self.head_dim
        scalar = self.config.get("query_pre_attn_scalar", expected)
        if scalar != expected:
            raise _refuse(
                self.name,
                f"query_pre_attn_scalar is {scalar}, but llama.cpp scales attention by 1/√{expected} for this shape",
            )

    def sliding_layers(self) -> list[bool]:
        types = self.config.get("layer_types")
        if types:
            return [kind == "sliding_attention" for kind in types]
        pattern = int(self.config.get("sliding_window_pattern") or self.default_pattern)
        return [(index + 1) % pattern != 0 for index in range(self.n_layers)]

    def write_hparams(self, writer: Any) -> None:
        import gguf

        super().write_hparams(writer)
        window = self.config.get("sliding_window")
        if window and any(self.sliding_layers()):  # llama.cpp refuses a window that no layer uses
            writer.add_sliding_window(int(window))
            writer.add_array(
                gguf.Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=self.gguf_arch), self.sliding_layers()
            )

    def convert(self, hf_name: str, data: Any) -> Any:
        return data + 1.0 if hf_name.endswith("norm.weight") else data


class Gemma2(Gemma):
    gguf_arch = "gemma2"
    large_layers = 46

    def check(self) -> None:
        super().check()
        if not self.tied:
            raise _refuse(self.name, "its output matrix is not tied to the embeddings, as llama.cpp's gemma2 expects")
        if not (self.config.get("sliding_window") and any(self.sliding_layers())):
            raise _refuse(self.name, "it has no sliding-window layers, and llama.cpp's gemma2 graph expects some")
        for key in ("attn_logit_softcapping", "final_logit_softcapping"):
            if not self.config.get(key):
                raise _refuse(self.name, f"{key} is off, and llama.cpp's gemma2 graph always applies it")

    def write_hparams(self, writer: Any) -> None:
        super().write_hparams(writer)
        writer.add_attn_logit_softcapping(float(self.config["attn_logit_softcapping"]))
        writer.add_final_logit_softcapping(float(self.config["final_logit_softcapping"]))


class Gemma3(Gemma):
    gguf_arch = "gemma3"
    default_pattern = 6
    large_layers = 62

    def check(self) -> None:
        super().check()
        if self.config.get("attn_logit_softcapping"):
            raise _refuse(self.name, "attention logit softcapping is on, and llama.cpp's gemma3 graph has none")
        # Sliding-window layers have their own rope base and no scaling in llama.cpp's gemma3 graph.
        theta, factor = _rope(self.config, self.name, layer_type="sliding_attention")
        self.local_theta = float(self.config.get("rope_local_base_freq") or theta)
        if "sliding_attention" in (self.config.get("rope_parameters") or {}) and factor != 1.0:
            raise _refuse(self.name, "its sliding-window layers scale rope, which llama.cpp's gemma3 graph does not")

    def write_hparams(self, writer: Any) -> None:
        import gguf

        super().write_hparams(writer)
        writer.add_float32(gguf.Keys.Rope.FREQ_BASE_SWA.format(arch=self.gguf_arch), self.local_theta)
        if self.config.get("final_logit_softcapping"):
            writer.add_final_logit_softcapping(float(self.config["final_logit_softcapping"]))


ARCHITECTURES: dict[str, type[Architecture]] = {
    "LlamaForCausalLM": Llama,
    "MistralForCausalLM": Llama,
    "Qwen2ForCausalLM": Qwen2,
    "Qwen3ForCausalLM": Qwen3,
    "Gemma2ForCausalLM": Gemma2,
    "Gemma3ForCausalLM": Gemma3,
    "Phi3ForCausalLM": Phi3,
}
