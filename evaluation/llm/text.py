"""Case- and accent-free text: `fold` (shared by the heuristic grader and de-duplication hashing) and the
words, stop words and stems the heuristic grader matches on.

`fold` decides the content hash of every training example: changing what it returns changes those hashes.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata


def _marks_between(low: int, high: int) -> list[int]:
    """The combining marks (accents, diaereses, cedillas once decomposed) among the code points low..high-1."""
    return [codepoint for codepoint in range(low, high) if unicodedata.combining(chr(codepoint))]


@functools.cache
def _combining_marks() -> dict[int, None]:
    """Every combining mark, for one C-speed `translate`. Built on first need only (a second or so: it looks
    at every code point), for the rare text beyond the Basic Multilingual Plane."""
    return dict.fromkeys(_marks_between(0, sys.maxunicode + 1))


@functools.cache
def _bmp_combining_marks() -> re.Pattern[str]:
    """The combining marks of the Basic Multilingual Plane as one character class. `re` tests such a class
    with one table lookup per character, so removing them this way is several times faster than `translate`
    with a dict, which looks every character up; a class that also held the marks of the other planes would
    be tested range by range."""
    marks = _marks_between(0, 0x10000)
    runs: list[list[int]] = []
    for codepoint in marks:
        if runs and runs[-1][1] == codepoint - 1:
            runs[-1][1] = codepoint
        else:
            runs.append([codepoint, codepoint])
    # One character per match, not runs ("]+"): `re` then skips to a candidate by the class alone, twice as fast.
    return re.compile("[" + "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in runs) + "]")


_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


def _without_combining_marks(text: str) -> str:
    if _BEYOND_BMP.search(text):  # rare (emoji, historic scripts): the table covers every plane
        return text.translate(_combining_marks())
    return _bmp_combining_marks().sub("", text)


def fold(text: str) -> str:
    """Casefold and drop accents (NFKD, combining marks removed): 'Índice' and 'indice' compare equal.
    White space is kept as it is."""
    folded = text.casefold()
    if not folded.isascii():
        # Compatibility decomposition can produce capitals (e.g. from letterlike symbols): fold again.
        folded = _without_combining_marks(unicodedata.normalize("NFKD", folded)).casefold()
    return folded


_STOP_WORDS_EN = frozenset(
    """
    a about above after again against all almost also although always am among an and another any anyone
    anything are around as at be because been before being below between both but by can cannot could did
    do does doing done down during each either else enough etc even ever every few for from further get gets
    getting got had has have having he her here hers him his how however i if in into is it its itself just
    least less let like lot lots made make makes many may me might more most much must my need needs never
    no nor not now of off often on once one only onto or other others otherwise our ours out over own per
    quite rather really same shall she should so some something sometimes still such than that the their
    theirs them then there therefore these they thing things this those though through thus to too two
    under until up upon us use used uses using usually very via was way ways we well were what whatever
    when where whether which while who whom whose why will with within without would yes yet you your yours
    """.split()
)
_STOP_WORDS_ES = frozenset(
    """
    a al algo alguien algun alguna algunas alguno algunos ante antes asi aun aunque bajo bien cada casi como
    con contra cual cuales cualquier cuando cuanto de del desde donde dos durante e el ella ellas ello ellos
    en entre era eran eres es esa esas ese eso esos esta estaba estan estar estas este esto estos fue fueron
    ha haber habia hace hacen hacer hacia han has hasta hay he la las le les lo los mas me mi mis mismo misma
    mismos mismas mucho muchos mucha muchas muy nada ni no nos nosotros o otra otras otro otros para pero poco
    por porque pues puede pueden que quien se sea segun ser si sido siempre sin sino sobre solo son su sus tal
    tambien tampoco tan tanto te tener tengo tiene tienen toda todas todo todos tras tu tus u un una unas uno
    unos usar uso usa usan va vamos van varias varios vez veces y ya yo
    """.split()
)
STOP_WORDS = _STOP_WORDS_EN | _STOP_WORDS_ES

_SLASHED_LETTERS = re.compile(r"\b([a-z])/([a-z])\b")
WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Folded words. 'I/O' and 'A/B' stay one word ('io', 'ab') instead of two one-letter ones."""
    return WORD.findall(_SLASHED_LETTERS.sub(r"\1\2", fold(text)))


# One light suffix-stripping stemmer for both languages. It is not linguistically exact; what matters is
# that the forms a candidate is likely to write ('índice compuesto' / 'indices compuestos', 'cache' /
# 'caching' / 'cached', 'replicación' / 'replicar') reduce to the same stem.
# (suffixes, replacement, shortest stem that may remain)
_SUFFIX_GROUPS = (
    # Spanish: nouns of action and quality, participles, infinitives, adverbs.
    (
        "amientos imientos amiento imiento izaciones izacion aciones acion abilidades ibilidades abilidad "
        "ibilidad idades idad izados izadas izado izada izando izar mente ables ibles able ible adores adoras "
        "ador adora ando iendo ados adas idos idas ado ada ido ida ar ir ismos ismo istas ista ales al",
        "",
        3,
    ),
    ("ciones cion", "c", 2),
    ("siones sion", "s", 2),
    # English: nominalisations ('ownership' / 'owned'), verb forms, adverbs, plurals.
    (
        "izations ization isations isation ations ation ions ion izing ized izes ize ising ised ises ise "
        "abilities ability ibility ities ity ments ment nesses ness ships ship ating ated ates ate ings ing edly ed "
        "ers er es s",
        "",
        3,
    ),
    # Both languages: '-ent' / '-ency' ('consistent' / 'consistency', 'incidente' / 'incidencia'). Shorter
    # stems than four letters would join unrelated words ('client' and 'cliché').
    ("encias encia entes ente encies ency ences ence ents ent", "", 4),
    ("ly", "", 4),
    ("ies ied", "i", 2),
)
# The longest suffix wins, so 'aciones' is tried before 'es' and 's'.
_SUFFIX_RULES = sorted(
    (
        (suffix, replacement, min_stem)
        for suffixes, replacement, min_stem in _SUFFIX_GROUPS
        for suffix in suffixes.split()
    ),
    key=lambda rule: -len(rule[0]),
)
# After these suffixes a doubled consonant is undone: 'mapped' -> 'map', 'running' -> 'run'.
_UNDOUBLE_AFTER = frozenset({"ing", "ings", "ed", "er", "ers"})
_UNDOUBLE_LETTERS = frozenset("bdgmnprt")
# A final 's' that is not a plural: 'class', 'status', 'analysis', 'axis'.
_NOT_PLURAL_ENDINGS = ("ss", "us", "sis", "xis")


def _strip_suffix(word: str) -> str:
    for suffix, replacement, min_stem in _SUFFIX_RULES:
        if not word.endswith(suffix) or len(word) - len(suffix) < min_stem:
            continue
        if suffix == "s" and word.endswith(_NOT_PLURAL_ENDINGS):
            continue
        base = word[: -len(suffix)]
        if suffix in _UNDOUBLE_AFTER and len(base) > 3 and base[-1] == base[-2] and base[-1] in _UNDOUBLE_LETTERS:
            base = base[:-1]
        return base + replacement
    return word


@functools.lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """The stem of one folded word. Numbers and words of three letters or fewer are kept as they are."""
    if len(word) <= 3 or word.isdigit():
        return word
    for _ in range(3):
        stripped = _strip_suffix(word)
        if stripped == word:
            break
        word = stripped
    # Final vowels mark gender, number or a silent 'e' ('compuesto' / 'compuesta', 'cache' / 'caching'),
    # and a final 'y' alternates with 'ies' ('query' / 'queries').
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    if word[-1] in "aeio" and len(word) > 3:
        word = word[:-1]
    return word
