"""Text normalisation for de-duplication: two answers that differ only in case, accents or white space are one."""

from __future__ import annotations

import hashlib

from evaluation.llm.text import fold

_SEPARATOR = "\x1f"  # a control character no question ends with, so "ab"+"c" and "a"+"bc" never collide


def fold_text(text: str) -> str:
    """Casefold, drop accents and collapse white space."""
    return " ".join(fold(text).split())


def content_hash(*, question: str, answer: str) -> str:
    """SHA-256 of the folded question and answer: the key that makes a training example unique."""
    folded = fold_text(question) + _SEPARATOR + fold_text(answer)
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()
