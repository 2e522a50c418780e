"""The GGUF writer on each architecture it converts besides Llama (see test_gguf_writer.py): a tiny random
checkpoint with a tokenizer of its family's shape, converted and loaded by llama.cpp, tokenizes like
`tokenizers` and computes the same next-token logits as transformers on the same token ids.

Tolerances (README, "Fine-tuning and comparing models"):
- f32 file, f32 KV cache: max |Δlogit| ≤ 5e-3 and the same argmax at every position (measured ≤ 3.1e-5,
  but ≤ 2.7e-3 for Gemma: ggml's CPU GELU looks its result up in an f16 table);
- f16 file, llama.cpp's default (f16) KV cache: max |Δlogit| ≤ 1% of the largest |logit| (measured ≤ 0.34%).
Each broken transform we tried (no Q/K permutation, w instead of 1 + w, a wrong softcap, sliding-window
pattern, rope base, rotary width or LongRoPE factor) moved the f32 logits by 0.76 or more; equal
SentencePiece scores changed the tokens of 8-9 of the 67 texts.
"""

from __future__ import annotations

import json

import pytest

from .gguf_models import PREFIX_SPACE, TEXTS, tiny_checkpoint, tokenization_texts

F32_TOLERANCE = 5e-3
F16_RELATIVE_TOLERANCE = 1e-2
GGML_TYPE_F32 = 0  # llama.cpp's KV cache type for an exact comparison (its default is f16)
ARCHITECTURES = ["mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "phi3_longrope"]


def _llama_cpp_logits(path, ids, **kwargs):
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=2, **kwargs)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])
    finally:
        llm.close()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_llama_cpp_tokenizes_and_computes_like_transformers(gguf_extras, tmp_path, architecture):
    import numpy as np
    import torch
    from llama_cpp import Llama

    from training.finetune.gguf_writer import convert_to_gguf

    model, tokenizer = tiny_checkpoint(architecture, tmp_path / "hf")
    f32 = convert_to_gguf(tmp_path / "hf", tmp_path / "f32.gguf", dtype="f32")
    f16 = convert_to_gguf(tmp_path / "hf", tmp_path / "f16.gguf", dtype="f16")

    llm = Llama(model_path=str(f16), n_ctx=256, verbose=False, n_threads=2)
    try:
        for text in tokenization_texts():
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids, text
            decoded = llm.detokenize(ids, special=True).decode()
            if architecture in PREFIX_SPACE:
                # llama-cpp-python keeps the ▁ prefix of the first piece as a space; transformers strips it.
                decoded = decoded.removeprefix(" ")
            assert decoded == tokenizer.decode(ids)
        assert llm.tokenize(b"Hello world", add_bos=True, special=True) == tokenizer("Hello world")["input_ids"]
    finally:
        llm.close()

    ids = tokenizer(TEXTS[2] + TEXTS[1] + TEXTS[3])["input_ids"]  # longer than Gemma's 8-token window
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    exact = _llama_cpp_logits(f32, ids, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    half = _llama_cpp_logits(f16, ids)

    scale = np.abs(expected).max()
    f32_error, f16_error = np.abs(exact - expected).max(), np.abs(half - expected).max()
    print(f"{architecture}: {len(ids)} tokens, max |logit| {scale:.3g}, f32 Δ {f32_error:.2g}, f16 Δ {f16_error:.2g}")
    assert f32_error <= F32_TOLERANCE
    assert (exact.argmax(-1) == expected.argmax(-1)).all()
    assert f16_error <= F16_RELATIVE_TOLERANCE * scale


def test_the_file_carries_each_architectures_own_settings(gguf_extras, tmp_path):
    from gguf import GGUFReader

    from training.finetune.gguf_writer import convert_to_gguf

    def reader(architecture):
        tiny_checkpoint(architecture, tmp_path / architecture)
        path = convert_to_gguf(tmp_path / architecture, tmp_path / f"{architecture}.gguf", dtype="f16")
        return GGUFReader(str(path))

    gemma = reader("gemma3")

    def value(key):
        return gemma.get_field(key).contents()

    assert value("general.architecture") == "gemma3"
    assert value("gemma3.attention.sliding_window") == 8
    assert value("gemma3.attention.sliding_window_pattern") == [True, False]
    assert value("gemma3.rope.freq_base") == 1_000_000 and value("gemma3.rope.freq_base_swa") == 50_000
    assert value("gemma3.rope.scaling.factor") == 8
    assert value("tokenizer.ggml.model") == "llama" and value("tokenizer.ggml.add_space_prefix") is False
    tokens, types = value("tokenizer.ggml.tokens"), value("tokenizer.ggml.token_type")
    assert types[tokens.index("<0x0A>")] == 6 and types[tokens.index("<start_of_turn>")] == 3  # byte, control
    assert value("tokenizer.ggml.bos_token_id") == tokens.index("<bos>") and value("tokenizer.ggml.add_bos_token")

    phi = reader("phi3")
    shapes = {tensor.name: list(tensor.shape) for tensor in phi.tensors}
    assert shapes["blk.0.attn_qkv.weight"] == [64, 64 + 2 * 32]  # fused q, k, v (2 of 4 heads for k and v)
    assert shapes["blk.0.ffn_up.weight"] == [64, 2 * 128]  # fused gate and up
    assert phi.get_field("phi3.rope.dimension_count").contents() == 8  # half of each 16-wide head

    qwen = reader("qwen2")
    assert qwen.get_field("tokenizer.ggml.pre").contents() == "qwen2"
    assert "output.weight" not in {tensor.name for tensor in qwen.tensors}  # tied to the embeddings


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"architectures": ["GPT2LMHeadModel"]}, r"does not handle GPT2LMHeadModel; it converts LlamaForCausalLM, .*"),
        (
            {"architectures": ["Gemma2ForCausalLM"], "query_pre_attn_scalar": 224, "head_dim": 256},
            r"query_pre_attn_scalar is 224, but llama.cpp scales attention by 1/√256",
        ),
        ({"architectures": ["Qwen2ForCausalLM"], "use_sliding_window": True}, "sliding window"),
        ({"architectures": ["Phi3ForCausalLM"], "rope_scaling": {"type": "dynamic"}}, "rope scaling 'dynamic'"),
        ({"architectures": ["Gemma2ForCausalLM"], "tie_word_embeddings": False}, "not tied"),
        ({"architectures": ["Gemma3ForCausalLM"], "attn_logit_softcapping": 50.0}, "softcapping"),
        ({"architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "yarn"}}, "rope scaling 'yarn'"),
    ],
)
def test_what_the_writer_cannot_convert_is_refused_before_reading_weights(tmp_path, config, reason):
    """Only config.json exists: the refusal comes from the configuration, before any tensor or tokenizer."""
    from training.finetune.errors import GGUFConversionError
    from training.finetune.gguf_writer import convert_to_gguf

    shape = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 1024, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps({**shape, **config}))

    with pytest.raises(GGUFConversionError, match=reason) as refused:
        convert_to_gguf(tmp_path, tmp_path / "out.gguf")
    assert "LLAMA_CPP_DIR" in str(refused.value)
    assert not (tmp_path / "out.gguf").exists()
