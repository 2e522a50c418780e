"""The checkpoint's tokenizer as llama.cpp reads it: a byte-level BPE ("gpt2") or a SentencePiece-style
("llama") vocabulary, with token types, special ids, BOS behaviour and the chat template.

Only tokenizers that llama.cpp splits exactly as `tokenizers` does are accepted; any other is refused with
the reason, since a file that tokenizes differently serves a different model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import GGUFConversionError

# gguf.TokenType, kept here so this module needs no heavy import.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# llama.cpp names each byte-level BPE pre-tokenizer; these are the split expressions of the ones we write
# (exactly as they appear in tokenizer.json).
PRE_TOKENIZER_PATTERNS = {
    "llama-bpe": (  # Llama 3
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s+(?!\S)|\s+"
    ),
    "qwen2": (  # Qwen 2, 2.5 and 3: Llama 3's, but one digit at a time
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
        r"|\s+(?!\S)|\s+"
    ),
}
SPIECE_UNDERLINE = "\u2581"


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GGUFConversionError(f"{path.name} is missing from {path.parent}") from None


def _steps(component: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    """A tokenizer.json normalizer/pre-tokenizer/decoder as a flat list of steps (a Sequence or a single one)."""
    if not component:
        return []
    if component.get("type") == "Sequence":
        return list(component.get(key) or [])
    return [component]


def _bpe_pre_tokenizer_name(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's name for a byte-level BPE tokenizer's pre-tokenizer, or a clear error for one it would
    split differently."""
    normalizer = _steps(tokenizer.get("normalizer"), "normalizers")
    if any(step.get("type") != "NFC" for step in normalizer):
        raise GGUFConversionError(
            "The built-in GGUF writer handles byte-level BPE tokenizers without a normalizer (or with NFC, as Qwen's); "
            f"this one normalizes with {[step.get('type') for step in normalizer]}."
        )
    steps = _steps(tokenizer.get("pre_tokenizer"), "pretokenizers")
    if len(steps) == 1 and steps[0].get("type") == "ByteLevel" and steps[0].get("use_regex", True):
        return "gpt-2"
    if (
        len(steps) == 2
        and steps[0].get("type") == "Split"
        and steps[1].get("type") == "ByteLevel"
        and not steps[1].get("use_regex", True)
    ):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        for name, known in PRE_TOKENIZER_PATTERNS.items():
            if pattern == known:
                return name
    raise GGUFConversionError(
        "The built-in GGUF writer knows the GPT-2, Llama 3 and Qwen 2 byte-level pre-tokenizers; this tokenizer "
        "splits text another way. Set LLAMA_CPP_DIR to a llama.cpp checkout to convert it with convert_hf_to_gguf.py."
    )


def _sentencepiece_prefix(tokenizer: dict[str, Any]) -> bool | None:
    """For a SentencePiece-style tokenizer (spaces written as ▁, no splitting before the merges): whether it
    prepends ▁ to the text (Llama 2, Mistral, Phi-3) or not (Gemma); None for any other shape."""
    normalizer = _steps(tokenizer.get("normalizer"), "normalizers")
    pre = _steps(tokenizer.get("pre_tokenizer"), "pretokenizers")

    def replaces_spaces(step: dict[str, Any]) -> bool:
        pattern = (step.get("pattern") or {}).get("String")
        return step.get("type") == "Replace" and pattern == " " and step.get("content") == SPIECE_UNDERLINE

    def prepends(step: dict[str, Any]) -> bool:
        return step.get("type") == "Prepend" and step.get("prepend") == SPIECE_UNDERLINE

    if (
        not pre
        and normalizer
        and replaces_spaces(normalizer[-1])
        and all(replaces_spaces(step) or prepends(step) for step in normalizer)
    ):
        return any(map(prepends, normalizer))
    if (
        not normalizer
        and len(pre) == 1
        and pre[0].get("type") == "Metaspace"
        and pre[0].get("replacement") == SPIECE_UNDERLINE
        and not pre[0].get("split", True)
        and pre[0].get("prepend_scheme") in ("always", "first", "never")
    ):
        # llama.cpp prepends ▁ to the text, and again after each special token; Metaspace leaves out a text
        # that starts with a space ("always", "first") and the text after special tokens ("first"). There
        # the ids differ by a ▁, as they do in llama.cpp's own conversion of these tokenizers.
        return pre[0]["prepend_scheme"] != "never"
    return None


class Vocabulary:
    """The tokenizer in `model_dir` as llama.cpp reads it; `vocab_size` rows of the embedding matrix."""

    def __init__(self, model_dir: Path, vocab_size: int) -> None:
        tokenizer = read_json(model_dir / "tokenizer.json")
        self.config = read_json(model_dir / "tokenizer_config.json")
        model = tokenizer.get("model") or {}
        decoder = _steps(tokenizer.get("decoder"), "decoders")
        self.merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges") or []]
        self.add_space_prefix: bool | None = None
        if model.get("type") == "BPE" and [step.get("type") for step in decoder] == ["ByteLevel"]:
            self.model, self.pre = "gpt2", _bpe_pre_tokenizer_name(tokenizer)
        elif model.get("type") == "BPE" and model.get("byte_fallback"):
            self.add_space_prefix = _sentencepiece_prefix(tokenizer)
            if self.add_space_prefix is None:
                raise GGUFConversionError(
                    "The built-in GGUF writer handles SentencePiece-style BPE tokenizers that write spaces as ▁ and "
                    "do not split the text before merging (Llama 2, Mistral, Phi-3, Gemma); this one is shaped "
                    "otherwise."
                )
            self.model, self.pre = "llama", "default"
        else:
            raise GGUFConversionError(
                "The built-in GGUF writer handles byte-level BPE tokenizers (GPT-2, Llama 3, Qwen) and SentencePiece-"
                "style BPE tokenizers with byte fallback (Llama 2, Mistral, Phi-3, Gemma); this tokenizer.json has "
                f"a {model.get('type')} model. Set LLAMA_CPP_DIR to a llama.cpp checkout to convert it."
            )
        by_id: dict[int, str] = {index: token for token, index in model["vocab"].items()}
        added_types: dict[int, int] = {}
        for added in tokenizer.get("added_tokens") or []:
            by_id[added["id"]] = added["content"]
            added_types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
        self.ids = {token: index for index, token in by_id.items()}
        size = max(vocab_size, max(by_id) + 1)
        # Embedding rows past the tokenizer's last id exist in some checkpoints (padded for speed): llama.cpp
        # needs a token for each, marked unused.
        self.tokens = [by_id.get(index, f"[PAD{index}]") for index in range(size)]
        unk = model.get("unk_token")
        self.types = [self._type(index, by_id, added_types, unk) for index in range(size)]
        self.scores = self._scores() if self.model == "llama" else None
        self.add_bos = self._adds_bos(tokenizer)

    def _type(self, index: int, by_id: dict[int, str], added_types: dict[int, int], unk: str | None) -> int:
        if index in added_types:
            return added_types[index]
        if index not in by_id:
            return UNUSED
        token = by_id[index]
        if self.model == "llama" and token == unk:
            return UNKNOWN
        if self.model == "llama" and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return BYTE
        return NORMAL

    def _scores(self) -> list[float]:
        """SentencePiece scores from the merge ranks.

        llama.cpp's SentencePiece tokenizer merges, at each step, the adjacent pair whose concatenation is the
        vocabulary piece with the highest score; `tokenizers` merges the pair with the lowest merge rank. A
        piece scored minus the rank of the first merge that makes it gives the same order, and the same
        tokens wherever the merges list every pair whose concatenation is a piece (as the merges of a
        converted SentencePiece model do). Pieces no merge makes (characters, bytes, special tokens) score 0.
        """
        scores = [0.0] * len(self.tokens)
        seen: set[int] = set()
        for rank, merge in enumerate(self.merges):
            left, _, right = merge.partition(" ")
            index = self.ids.get(left + right)
            if index is not None and index not in seen:
                seen.add(index)
                scores[index] = -float(rank + 1)
        return scores

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

    def chat_template(self, model_dir: Path) -> str | None:
        template = self.config.get("chat_template")
        if not template and (model_dir / "chat_template.jinja").is_file():
            template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
        return template or None

    def write(self, writer: Any, model_dir: Path) -> None:
        """Add the tokenizer's keys to a `gguf.GGUFWriter`."""
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
            writer.add_add_space_prefix(bool(self.add_space_prefix))
        if self.model == "gpt2":
            writer.add_token_merges(self.merges)
        for name, add in (
            ("bos_token", writer.add_bos_token_id),
            ("eos_token", writer.add_eos_token_id),
            ("pad_token", writer.add_pad_token_id),
            ("unk_token", writer.add_unk_token_id),
        ):
            token_id = self.token_id(name)
            if token_id is not None:
                add(token_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(False)
        template = self.chat_template(model_dir)
        if template:
            writer.add_chat_template(template)
