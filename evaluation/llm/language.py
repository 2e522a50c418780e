"""Which language a grading request is written in (Spanish or English), when the caller does not say.

A stop-word count, offline and instant: function words are the most frequent words of any text, and the two
languages share few of them. Spanish punctuation and letters (¿ ¡ ñ, accented vowels) count as Spanish
words. A tie (no function words at all: 'GIL', 'mutex') keeps the project's default, Spanish.
"""

from __future__ import annotations

import re

from .text import _STOP_WORDS_EN, _STOP_WORDS_ES, tokenize

DEFAULT_LANGUAGE = "es"

# Only the words that belong to one language: 'a', 'he', 'no', 'me', 'solo'... say nothing.
_ENGLISH_ONLY = _STOP_WORDS_EN - _STOP_WORDS_ES
_SPANISH_ONLY = _STOP_WORDS_ES - _STOP_WORDS_EN
_SPANISH_MARKS = re.compile(r"[¿¡ñÑáéíóúÁÉÍÓÚ]")


def language_detect(*texts: str) -> str:
    """'es' or 'en': the language with more of its own function words (and Spanish marks) in the texts."""
    english = spanish = 0
    for text in texts:
        spanish += len(_SPANISH_MARKS.findall(text))
        for word in tokenize(text):
            english += word in _ENGLISH_ONLY
            spanish += word in _SPANISH_ONLY
    if english == spanish:
        return DEFAULT_LANGUAGE
    return "en" if english > spanish else "es"
