"""Our GGUF writer against llama.cpp itself: the file loads, tokenizes exactly like the Hugging Face
tokenizer, and computes the same logits (which it only does with the Q/K rotary permutation right)."""

from __future__ import annotations

import json

import pytest

TEXTS = [
    "Hello world",
    "¿Qué es un índice? Un árbol B, ñandú, pingüino… Straße!",
    "<|im_start|>user\nGrade this<|im_end|>\n<|im_start|>assistant\n",
    "  two spaces\n\n\ttab, digits 1234567 and x=1+2; emoji 🙂",
    '{"score":7.5,"breakdown":{"completeness":2.5}}',
]


def _tiny_checkpoint(directory, *, heads: int, kv_heads: int, seed: int = 7):
    """A random tiny Llama (grouped-query attention when kv_heads < heads) and a tokenizer trained on a few
    sentences, saved as a checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.finetune.tiny import build_tokenizer

    tokenizer = build_tokenizer(TEXTS * 20 + ["Explica la diferencia entre un proceso y un hilo."] * 5, vocab_size=400)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # a random init gives near-uniform logits; larger weights make a wrong rotary visible
        for name, parameter in model.named_parameters():
            if "proj" in name or "lm_head" in name:
                parameter.mul_(8 if "proj" in name else 50)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer


@pytest.mark.parametrize(("heads", "kv_heads"), [(4, 4), (4, 2)])
def test_llama_cpp_computes_the_same_logits_and_tokens(gguf_extras, tmp_path, monkeypatch, heads, kv_heads):
    import numpy as np
    import torch
    from llama_cpp import Llama

    from training.finetune import gguf_writer

    model, tokenizer = _tiny_checkpoint(tmp_path / "hf", heads=heads, kv_heads=kv_heads)
    gguf_path = gguf_writer.convert_to_gguf(tmp_path / "hf", tmp_path / "tiny.gguf", dtype="f32")
    llm = Llama(str(gguf_path), n_ctx=256, logits_all=True, verbose=False, n_threads=2)
    try:
        for text in TEXTS:
            assert llm.tokenize(text.encode(), add_bos=False, special=True) == tokenizer(text)["input_ids"], text
            assert llm.detokenize(tokenizer(text)["input_ids"], special=True).decode() == text
        ids = tokenizer(TEXTS[2] + TEXTS[1])["input_ids"]
        llm.eval(ids)
        actual = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()

    scale = np.abs(expected).max()
    assert np.abs(actual - expected).max() < 1e-2 * scale
    assert (actual.argmax(-1) == expected.argmax(-1)).all()

    # The same file without the Q/K permutation computes something else: the check above would catch it.
    monkeypatch.setattr(gguf_writer.architectures, "permute_rotary", lambda weight, n_head: weight)
    unpermuted = gguf_writer.convert_to_gguf(tmp_path / "hf", tmp_path / "unpermuted.gguf", dtype="f32")
    llm = Llama(str(unpermuted), n_ctx=256, logits_all=True, verbose=False, n_threads=2)
    try:
        llm.eval(ids)
        wrong = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    assert np.abs(wrong - expected).max() > 0.1 * scale


def test_the_file_carries_the_chat_template_and_special_tokens(gguf_extras, tmp_path):
    from gguf import GGUFReader

    from training.finetune.gguf_writer import convert_to_gguf
    from training.finetune.tiny import CHATML_TEMPLATE

    _, tokenizer = _tiny_checkpoint(tmp_path / "hf", heads=4, kv_heads=4)
    reader = GGUFReader(str(convert_to_gguf(tmp_path / "hf", tmp_path / "tiny.gguf", dtype="f16")))

    def value(key):
        return reader.get_field(key).contents()

    assert value("general.architecture") == "llama"
    assert value("tokenizer.ggml.model") == "gpt2" and value("tokenizer.ggml.pre") == "gpt-2"
    assert value("tokenizer.chat_template") == CHATML_TEMPLATE
    assert value("tokenizer.ggml.eos_token_id") == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert value("tokenizer.ggml.add_bos_token") is False
    tokens, types = value("tokenizer.ggml.tokens"), value("tokenizer.ggml.token_type")
    assert len(tokens) == len(tokenizer) and types[tokens.index("<|im_start|>")] == 3  # control token
    tensor_types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert tensor_types["blk.0.attn_q.weight"] == "F16" and tensor_types["blk.0.attn_norm.weight"] == "F32"


def test_other_architectures_need_llama_cpp_and_say_so(gguf_extras, tmp_path):
    from training.finetune.errors import GGUFConversionError
    from training.finetune.gguf_writer import convert_to_gguf

    (tmp_path / "gpt2").mkdir()
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))

    with pytest.raises(GGUFConversionError, match="LLAMA_CPP_DIR"):
        convert_to_gguf(tmp_path / "gpt2", tmp_path / "out.gguf")
    with pytest.raises(GGUFConversionError, match="no convert_hf_to_gguf.py"):
        convert_to_gguf(tmp_path / "gpt2", tmp_path / "out.gguf", llama_cpp_dir=str(tmp_path))
