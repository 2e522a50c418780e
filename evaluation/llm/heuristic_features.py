"""What the heuristic grader measures in an answer, before any judgement: surface features.

How many expected concepts and keywords it contains (case-, accent- and inflection-insensitive, Spanish and
English, a concept's words close together or its initials), how much of the question's own subject it
mentions, how it is written (sentences or a list of names, function words, length) and how much it explains
(causes, conditions, examples, trade-offs, figures, code). Pure and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import GradingRequest
from .text import STOP_WORDS, WORD, fold, stem, tokenize

# ---------------------------------------------------------------------------------------------------------
# Question terms

# Words that frame a question rather than name its subject ("explain", "tell me about a time"): they say
# nothing about whether an answer is on topic.
_QUESTION_FRAMING = frozenset(
    """
    explain describe tell give difference differences example examples handle approach mean means time
    think know would work works happen happens situation decide define design
    explica explicarias describe describirias cuentame hablame diferencia diferencias ejemplo ejemplos
    harias usarias elegirias aplicas actuas decides haces gestionas gestionarias organizarias pondrias
    tratarias planificarias disenarias validarias recuperarias automatizarias dejarias conviene situacion
    """.split()
)


_QUESTION_FRAMING_STEMS = frozenset(stem(word) for word in _QUESTION_FRAMING)


# ---------------------------------------------------------------------------------------------------------
# Matching expected concepts and keywords


@dataclass(frozen=True)
class _Term:
    """An expected concept or keyword: its display name and the stem sequences of each accepted form."""

    name: str
    forms: tuple[tuple[str, ...], ...]


# Shorter stems end too many unrelated words to be found inside a compound.
_COMPOUND_MIN = 5
_LITERAL = "="  # marks a word kept as written, in the same index as the stems

# Names of this many words have a usual acronym; shorter ones give two-letter initials that match noise.
_ACRONYM_WORDS = (3, 6)
_ALTERNATIVE_SPLIT = re.compile(r"\(|\)|\s/\s|\s+or\s+|\s+o\s+|;")


def _content_stems(tokens: list[str]) -> tuple[str, ...]:
    stems: list[str] = []
    for token in tokens:
        if token not in STOP_WORDS:
            token_stem = stem(token)
            if token_stem not in stems:
                stems.append(token_stem)
    if stems:
        return tuple(stems)
    # A term made only of stop words ('IT', 'Done') is matched word for word, never through a stem: the
    # stems of stop words collide with real ones ('esta' and 'estado' both give 'est').
    return tuple(dict.fromkeys(_LITERAL + token for token in tokens))


def _term(name: str) -> _Term:
    """'Global Interpreter Lock (GIL)' is matched by either of its forms; 'roll-back' also as 'rollback'.

    A name of three words or more is also matched by its initials: candidates write 'GIL' for 'Global
    Interpreter Lock' and 'CORS' for 'Cross-Origin Resource Sharing' more often than the words.
    """
    forms: list[tuple[str, ...]] = []
    for alternative in [name, *_ALTERNATIVE_SPLIT.split(name)]:
        tokens = tokenize(alternative)
        candidates = [_content_stems(tokens)] if tokens else []
        if len(tokens) > 1:
            candidates.append((stem("".join(tokens)),))
        initials = "".join(token[0] for token in tokens)
        if _ACRONYM_WORDS[0] <= len(tokens) <= _ACRONYM_WORDS[1] and initials not in STOP_WORDS:
            candidates.append((stem(initials),))
        forms.extend(form for form in candidates if form not in forms)
    return _Term(name=name, forms=tuple(forms))


@dataclass
class _Text:
    """An answer prepared for matching: its words, and where each stem occurs (including joined pairs)."""

    tokens: list[str]
    positions: dict[str, list[int]]

    @classmethod
    def of(cls, text: str) -> _Text:
        tokens = tokenize(text)
        positions: dict[str, list[int]] = {}
        for index, token in enumerate(tokens):
            positions.setdefault(_LITERAL + token, []).append(index)
            if token not in STOP_WORDS:
                positions.setdefault(stem(token), []).append(index)
            # 'roll back' also reads as 'rollback', 'post mortem' as 'postmortem'.
            if index + 1 < len(tokens):
                positions.setdefault(stem(token + tokens[index + 1]), []).append(index)
        return cls(tokens=tokens, positions=positions)

    def has(self, token_stem: str) -> bool:
        return token_stem in self.positions

    def mentions(self, token_stem: str) -> bool:
        """`has`, or a compound word ending in it: 'CPython' mentions 'Python', 'microservicio' 'servicio'."""
        if token_stem in self.positions:
            return True
        return len(token_stem) >= _COMPOUND_MIN and any(token.endswith(token_stem) for token in self.tokens)


def _window_span(positions: list[list[int]]) -> int:
    """The smallest span of token positions that contains at least one occurrence of every stem."""
    events = sorted((position, which) for which, occurrences in enumerate(positions) for position in occurrences)
    needed = len(positions)
    counts = [0] * needed
    present = 0
    best = events[-1][0] - events[0][0] + 1
    left = 0
    for right_position, which in events:
        if counts[which] == 0:
            present += 1
        counts[which] += 1
        while present == needed:
            left_position, left_which = events[left]
            best = min(best, right_position - left_position + 1)
            counts[left_which] -= 1
            if counts[left_which] == 0:
                present -= 1
            left += 1
    return best


def _form_credit(form: tuple[str, ...], text: _Text) -> float:
    found = [text.positions[s] for s in form if s in text.positions]
    if len(found) == len(form):
        if len(form) == 1:
            return 1.0
        # Words of one concept belong together: allow a few words between them, not a paragraph.
        window = 4 + 4 * len(form)
        return 1.0 if _window_span(found) <= window else 0.6
    fraction = len(found) / len(form)
    # One word of a two-word concept ('estado' of 'estado global') proves nothing; most of a long one does.
    return 0.4 * fraction if len(form) >= 3 and fraction >= 0.5 else 0.0


def _term_credit(term: _Term, text: _Text) -> float:
    return max((_form_credit(form, text) for form in term.forms), default=0.0)


# ---------------------------------------------------------------------------------------------------------
# Answer features

_SENTENCE_SPLIT = re.compile(r"[.!?;:]+(?:\s|$)|\n+")
_LIST_SPLIT = re.compile(r"[,;\n•·|]|\s-\s|^\s*[-*]\s", re.MULTILINE)

# Phrases that show reasoning rather than naming: causes, consequences, purposes, conditions, examples,
# contrasts, trade-offs.
_EXPLANATION_MARKERS = re.compile(
    r"\b(?:because|since|therefore|so that|, so|which means|this means|that means|for example|for instance"
    r"|e\.?g\.?|such as|trade.?offs?|however|whereas|instead|rather than|on the other hand|in contrast"
    r"|although|unless|only (?:if|when|once)|as soon as|in order to|to (?:avoid|prevent|make sure)"
    r"|the (?:downside|cost|price)|drawbacks?|(?:dis)?advantages?|in practice|as a result|depends? on|otherwise"
    r"|porque|ya que|puesto que|por (?:lo )?tanto|por eso|asi que|de modo que|de forma que|es decir|por ejemplo"
    r"|sin embargo|en cambio|mientras que|aunque|a cambio|en (?:lugar|vez) de|salvo que"
    r"|a menos que|solo (?:si|cuando)|en cuanto|para (?:que|evitar|asegurar)|lo que (?:permite|evita|hace)"
    r"|(?:des)?ventajas?|inconvenientes?|el (?:coste|costo|precio)|compromiso|en la practica|depende de"
    r"|de lo contrario|como resultado|gracias a)\b"
)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|ms|s|gb|mb|x)?\b")
_CODE = re.compile(r"`[^`]+`|\w+\(\)|\w+_\w+|\b[a-z]+[A-Z]\w*|[{}\[\]]|==|->|=>")


@dataclass
class AnswerFeatures:
    word_count: int
    concept_credits: list[float]
    keyword_credits: list[float]
    question_coverage: float
    topic_recall: float
    explanation_markers: int
    concrete: float
    sentence_quality: float
    length_quality: float
    longest_sentence: int
    words_per_concept: float
    # Share of function words ('the', 'because', 'que', 'de'): prose has 35-55 %, a list of names almost none.
    function_share: float
    list_like: bool

    @property
    def concept_coverage(self) -> float:
        return _mean(self.concept_credits)

    @property
    def keyword_coverage(self) -> float:
        return _mean(self.keyword_credits)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _question_stems(question: str) -> list[str]:
    stems: list[str] = []
    for token in tokenize(question):
        if token in STOP_WORDS or token in _QUESTION_FRAMING:
            continue
        token_stem = stem(token)
        if token_stem not in _QUESTION_FRAMING_STEMS and token_stem not in stems:
            stems.append(token_stem)
    return stems


def answer_features(request: GradingRequest) -> AnswerFeatures:
    """What the answer contains, measured against the request's concepts, keywords and question."""
    concepts = [_term(name) for name in request.expected_concepts]
    keywords = [_term(name) for name in request.keywords]
    answer = request.answer
    text = _Text.of(answer)
    word_count = len(text.tokens)

    concept_credits = [_term_credit(term, text) for term in concepts]
    keyword_credits = [_term_credit(term, text) for term in keywords]
    question_stems = _question_stems(request.question)
    question_coverage = _mean([1.0 if text.mentions(s) else 0.0 for s in question_stems])

    topic: list[str] = list(question_stems)
    for term in (*concepts, *keywords):
        for form in term.forms:
            topic.extend(s for s in form if s not in topic)
    topic_recall = _mean([1.0 if text.has(s) else 0.0 for s in topic])

    folded = fold(answer)
    explanation_markers = len(set(_EXPLANATION_MARKERS.findall(folded)))
    concrete = 0.5 * bool(_NUMBER.search(answer)) + 0.5 * bool(_CODE.search(answer))

    sentences = [len(WORD.findall(part)) for part in _SENTENCE_SPLIT.split(folded)]
    sentences = [count for count in sentences if count]
    well_formed = sum(count for count in sentences if 5 <= count <= 40)
    sentence_quality = well_formed / word_count if word_count else 0.0
    if word_count < 50:
        length_quality = word_count / 50
    elif word_count <= 300:
        length_quality = 1.0
    else:
        length_quality = max(0.3, 1 - (word_count - 300) / 500)

    function_share = sum(1 for token in text.tokens if token in STOP_WORDS) / word_count if word_count else 0.0
    # Keywords stand in for concepts only when there are none: a few keywords in a sentence are normal.
    concepts_hit = sum(1 for credit in (concept_credits or keyword_credits) if credit >= 0.6)
    segments = [len(WORD.findall(part)) for part in _LIST_SPLIT.split(folded)]
    segments = [count for count in segments if count]
    list_like = len(segments) >= 2 and _mean([float(c) for c in segments]) <= 4

    return AnswerFeatures(
        word_count=word_count,
        concept_credits=concept_credits,
        keyword_credits=keyword_credits,
        question_coverage=question_coverage,
        topic_recall=topic_recall,
        explanation_markers=explanation_markers,
        concrete=concrete,
        sentence_quality=sentence_quality,
        length_quality=length_quality,
        longest_sentence=max(sentences, default=0),
        words_per_concept=word_count / concepts_hit if concepts_hit else float(word_count),
        function_share=function_share,
        list_like=list_like,
    )
