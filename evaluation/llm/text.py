"""Case- and accent-free text, shared by the heuristic grader (matching) and de-duplication (hashing)."""

from __future__ import annotations

import functools
import sys
import unicodedata


@functools.cache
def _combining_marks() -> dict[int, None]:
    """Every combining mark (accents, diaereses, cedillas once decomposed), for one C-speed `translate`."""
    return dict.fromkeys(codepoint for codepoint in range(sys.maxunicode + 1) if unicodedata.combining(chr(codepoint)))


def fold(text: str) -> str:
    """Casefold and drop accents (NFKD, combining marks removed): 'Índice' and 'indice' compare equal.
    White space is kept as it is."""
    folded = text.casefold()
    if not folded.isascii():
        # Compatibility decomposition can produce capitals (e.g. from letterlike symbols): fold again.
        folded = unicodedata.normalize("NFKD", folded).translate(_combining_marks()).casefold()
    return folded
