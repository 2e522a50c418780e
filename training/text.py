"""Text normalisation for de-duplication: two answers that differ only in case, accents or white space are one."""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata

_SEPARATOR = "\x1f"  # a control character no question ends with, so "ab"+"c" and "a"+"bc" never collide


@functools.cache
def _combining_marks() -> dict[int, None]:
    """Every combining mark (accents, diaereses, cedillas once decomposed), for one C-speed `translate`."""
    return dict.fromkeys(codepoint for codepoint in range(sys.maxunicode + 1) if unicodedata.combining(chr(codepoint)))


def fold_text(text: str) -> str:
    """Casefold, drop accents (NFKD, combining marks removed) and collapse white space."""
    folded = text.casefold()
    if not folded.isascii():
        # Compatibility decomposition can produce capitals (e.g. from letterlike symbols): fold again.
        folded = unicodedata.normalize("NFKD", folded).translate(_combining_marks()).casefold()
    return " ".join(folded.split())


def content_hash(*, question: str, answer: str) -> str:
    """SHA-256 of the folded question and answer: the key that makes a training example unique."""
    folded = fold_text(question) + _SEPARATOR + fold_text(answer)
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()
