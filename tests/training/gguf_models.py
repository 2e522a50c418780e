"""Tiny random-initialised checkpoints of each architecture the GGUF writer converts, with a tokenizer of the
model family's own shape trained on a few sentences (nothing downloaded), for comparing llama.cpp's logits
with transformers'."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

TEXTS = [
    "Hello world",
    "¿Qué es un índice? Un árbol B, ñandú, pingüino… Straße!",
    "<|im_start|>user\nGrade this<|im_end|>\n<|im_start|>assistant\n",
    "  two spaces\n\n\ttab, digits 1234567 and x=1+2; emoji 🙂",
    '{"score":7.5,"breakdown":{"completeness":2.5}}',
]
TRAINING_TEXTS = TEXTS * 20 + ["Explica la diferencia entre un proceso y un hilo."] * 5
CHAT_TEXTS = [
    "<start_of_turn>user\nHola<end_of_turn>\n<start_of_turn>model\n",
    "<|user|>\nHola mundo<|end|>\n<|assistant|>",
]
CHATML_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPIECE = "\u2581"


def tokenization_texts() -> list[str]:
    """The texts above, then their words shuffled (with and without spaces between them): new neighbours
    make pieces compete, which is where a tokenizer that merges in another order gives other tokens (with
    all SentencePiece scores equal, 9 of these 67 texts tokenize differently for the Mistral model)."""
    words = " ".join(TEXTS + ["Explica la diferencia entre un proceso y un hilo."]).split()
    shuffle = random.Random(0).sample
    return (
        [*TEXTS, *CHAT_TEXTS]
        + [" ".join(shuffle(words, 8)) for _ in range(30)]
        + ["".join(shuffle(words, 5)) for _ in range(30)]
    )


def qwen_tokenizer(*, vocab_size: int = 400) -> Any:
    """Byte-level BPE as Qwen 2/3 ship it: NFC, Qwen's split expression, no BOS, ChatML special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from training.finetune.tiny import CHATML_TEMPLATE

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=CHATML_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(TRAINING_TEXTS, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def sentencepiece_tokenizer(*, prefix_space: bool, specials: list[str], extra: list[str], vocab_size: int = 400) -> Any:
    """A SentencePiece-style BPE as Llama 2, Mistral and Phi-3 (`prefix_space`) or Gemma (no prefix) ship it
    converted to tokenizer.json: spaces written as ▁, byte fallback to <0xXX> pieces, and the merges every
    pair of pieces whose concatenation is a piece, ranked by that piece's id (SentencePiece's score order).

    `specials` are unk, bos, eos (and pad) in that order from id 0; `extra` are more special tokens after them.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    unk, bos, eos = specials[0], specials[1], specials[2]
    # Pieces are learned word by word (as SentencePiece does); the final tokenizer does not split the text.
    learner = Tokenizer(models.BPE(unk_token=unk))
    learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE, prepend_scheme="always", split=True)
    learner.train_from_iterator(
        TRAINING_TEXTS,
        trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, max_token_length=16, show_progress=False),
    )
    learned = sorted(learner.get_vocab().items(), key=lambda item: item[1])
    pieces = [*specials, *extra, *(f"<0x{byte:02X}>" for byte in range(256))]
    pieces += [piece for piece, _ in learned if piece not in pieces]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    merges = [
        (piece[:cut], piece[cut:])
        for piece in pieces[len(specials) + len(extra) + 256 :]
        for cut in range(1, len(piece))
        if piece[:cut] in vocab and piece[cut:] in vocab
    ]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=True, fuse_unk=True))
    steps = [normalizers.Prepend(SPIECE)] if prefix_space else []
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Replace(" ", SPIECE)])
    decode = [decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse()]
    tokenizer.decoder = decoders.Sequence([*decode, decoders.Strip(" ", 1, 0)] if prefix_space else decode)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in [*specials, *extra]])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token=unk,
        bos_token=bos,
        eos_token=eos,
        pad_token=specials[3] if len(specials) > 3 else None,
        add_bos_token=True,
    )


def gemma_tokenizer() -> Any:
    return sentencepiece_tokenizer(
        prefix_space=False, specials=["<unk>", "<bos>", "<eos>", "<pad>"], extra=["<start_of_turn>", "<end_of_turn>"]
    )


def llama2_tokenizer() -> Any:
    """Llama 2's shape, which Mistral and Phi-3 use (Phi-3 adds its chat tokens)."""
    return sentencepiece_tokenizer(
        prefix_space=True, specials=["<unk>", "<s>", "</s>"], extra=["<|user|>", "<|assistant|>", "<|end|>"]
    )


def _config(name: str, tokenizer: Any) -> Any:
    import transformers

    shape = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "attn_implementation": "eager",
    }
    gemma = {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 8}
    configs = {
        "mistral": lambda: transformers.MistralConfig(**shape, head_dim=16, tie_word_embeddings=False),
        "qwen2": lambda: transformers.Qwen2Config(**shape, tie_word_embeddings=True),
        "qwen3": lambda: transformers.Qwen3Config(**shape, head_dim=16, tie_word_embeddings=False),
        # A low attention softcap, so that the tanh visibly bends this small model's attention scores.
        "gemma2": lambda: transformers.Gemma2Config(**shape, **gemma, attn_logit_softcapping=5.0),
        "gemma3": lambda: transformers.Gemma3TextConfig(
            **shape,
            **gemma,
            layer_types=["sliding_attention", "full_attention"],
            rope_parameters={
                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 50_000.0},
            },
        ),
        "phi3": lambda: transformers.Phi3Config(
            **shape, rope_parameters={"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 0.5}
        ),
        # Phi-3-mini-128k's rope: the short factors apply up to the original 256 positions (llama.cpp's
        # context in the test), cos and sin scaled by √(1 + ln 4 / ln 256).
        "phi3_longrope": lambda: transformers.Phi3Config(
            **{**shape, "max_position_embeddings": 1024},
            original_max_position_embeddings=256,
            rope_parameters={
                "rope_type": "longrope",
                "rope_theta": 10_000.0,
                "partial_rotary_factor": 0.5,
                "short_factor": [1.0, 1.5, 3.0, 7.0],
                "long_factor": [2.0, 4.0, 9.0, 20.0],
            },
        ),
    }
    return configs[name]()


MODEL_CLASSES = {
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
    "phi3": "Phi3ForCausalLM",
    "phi3_longrope": "Phi3ForCausalLM",
}
PREFIX_SPACE = {"mistral", "phi3", "phi3_longrope"}  # their SentencePiece-style tokenizer prepends ▁ to the text
TOKENIZERS = {
    "mistral": llama2_tokenizer,
    "qwen2": qwen_tokenizer,
    "qwen3": qwen_tokenizer,
    "gemma2": gemma_tokenizer,
    "gemma3": gemma_tokenizer,
    "phi3": llama2_tokenizer,
    "phi3_longrope": llama2_tokenizer,
}


def tiny_checkpoint(name: str, directory: Path, *, seed: int = 3) -> tuple[Any, Any]:
    """Save a random 2-layer, 64-wide model of architecture `name` and its tokenizer in `directory`.

    Weights are drawn larger than a fresh init (which gives near-uniform logits) and every norm and bias is
    random, so a mistake in any transform the writer makes (rotary layout, Gemma's 1 + w norms, biases,
    fused projections) moves the logits far past the test's tolerance.
    """
    import torch
    import transformers

    tokenizer = TOKENIZERS[name]()
    config = _config(name, tokenizer)
    torch.manual_seed(seed)
    model = getattr(transformers, MODEL_CLASSES[name])(config).eval()
    gemma_norms = name.startswith("gemma")
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "norm" in parameter_name:
                parameter.normal_(0.0 if gemma_norms else 1.0, 0.3)
            elif parameter.ndim == 1:  # biases
                parameter.normal_(0.0, 0.5)
            elif "embed_tokens" in parameter_name:
                parameter.normal_(0.0, 1.0)
            else:
                parameter.normal_(0.0, 1.5 / math.sqrt(parameter.shape[1]))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model, tokenizer
