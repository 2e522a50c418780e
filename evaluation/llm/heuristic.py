"""The grader of last resort: used when no LLM answers, it returns the same schema from surface features.

It measures what can be measured without understanding the text: how many expected concepts, keywords
and question terms the answer contains (case-, accent- and inflection-insensitive, Spanish and English),
whether it explains them or only names them, whether it is about the question at all, whether it talks to
the grader instead of the interviewer, and whether its length is sane. It is pure (no ORM, no settings)
and deterministic: the same request always gets the same grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .parsing import normalise_grade
from .schema import GradeResult, GradingRequest
from .text import fold

__all__ = ["HEURISTIC_MODEL_NAME", "fold", "heuristic_grade", "stem", "tokenize"]

HEURISTIC_MODEL_NAME = "heuristic-v1"

# Score ceilings. An answer that only names concepts, or is about something else, can be long and
# full of the right words; the ceilings keep such answers below any answer that really explains.
OFF_TOPIC_CAP = 2.0
CONCEPT_LIST_CAP = 3.5
INJECTION_CAP = 1.0
# Below these word counts an answer cannot show understanding, whatever words it uses.
SHORT_ANSWER_CAPS = ((8, 1.5), (20, 3.5), (40, 6.0), (60, 8.0))
RAMBLING_WORDS = 400

# ---------------------------------------------------------------------------------------------------------
# Text normalisation

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

_SLASHED_LETTERS = re.compile(r"\b([a-z])/([a-z])\b")
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Folded words. 'I/O' and 'A/B' stay one word ('io', 'ab') instead of two one-letter ones."""
    return _WORD.findall(_SLASHED_LETTERS.sub(r"\1\2", fold(text)))


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
    # English: nominalisations, verb forms, adverbs, plurals.
    (
        "izations ization isations isation ations ation ions ion izing ized izes ize ising ised ises ise "
        "abilities ability ibility ities ity ments ment nesses ness ating ated ates ate ings ing edly ed ers er "
        "es s",
        "",
        3,
    ),
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


@lru_cache(maxsize=16384)
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


_QUESTION_FRAMING_STEMS = frozenset(stem(word) for word in _QUESTION_FRAMING)


# ---------------------------------------------------------------------------------------------------------
# Matching expected concepts and keywords


@dataclass(frozen=True)
class _Term:
    """An expected concept or keyword: its display name and the stem sequences of each accepted form."""

    name: str
    forms: tuple[tuple[str, ...], ...]


_LITERAL = "="  # marks a word kept as written, in the same index as the stems

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
    """'Global Interpreter Lock (GIL)' is matched by either of its forms; 'roll-back' also as 'rollback'."""
    forms: list[tuple[str, ...]] = []
    for alternative in [name, *_ALTERNATIVE_SPLIT.split(name)]:
        tokens = tokenize(alternative)
        candidates = [_content_stems(tokens)] if tokens else []
        if len(tokens) > 1:
            candidates.append((stem("".join(tokens)),))
        forms.extend(form for form in candidates if form not in forms)
    return _Term(name=name, forms=tuple(forms))


@dataclass
class _Text:
    """An answer prepared for matching: its words, and where each stem occurs (including joined pairs)."""

    tokens: list[str]
    content_stems: list[str]
    positions: dict[str, list[int]]

    @classmethod
    def of(cls, text: str) -> _Text:
        tokens = tokenize(text)
        positions: dict[str, list[int]] = {}
        content: list[str] = []
        for index, token in enumerate(tokens):
            positions.setdefault(_LITERAL + token, []).append(index)
            if token not in STOP_WORDS:
                token_stem = stem(token)
                content.append(token_stem)
                positions.setdefault(token_stem, []).append(index)
            # 'roll back' also reads as 'rollback', 'post mortem' as 'postmortem'.
            if index + 1 < len(tokens):
                positions.setdefault(stem(token + tokens[index + 1]), []).append(index)
        return cls(tokens=tokens, content_stems=content, positions=positions)

    def has(self, token_stem: str) -> bool:
        return token_stem in self.positions


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

# Phrases that show reasoning rather than naming: causes, consequences, examples, contrasts, trade-offs.
_EXPLANATION_MARKERS = re.compile(
    r"\b(?:because|since|therefore|so that|which means|this means|that means|for example|for instance|e\.?g\.?"
    r"|such as|trade.?offs?|however|whereas|instead|on the other hand|in contrast|although|unless"
    r"|the (?:downside|cost|price)|drawbacks?|(?:dis)?advantages?|in practice|as a result|depends? on|otherwise"
    r"|porque|ya que|puesto que|por (?:lo )?tanto|por eso|asi que|de modo que|es decir|por ejemplo|sin embargo"
    r"|en cambio|mientras que|aunque|a cambio|(?:des)?ventajas?|inconvenientes?|el (?:coste|costo|precio)"
    r"|compromiso|en la practica|depende de|de lo contrario|como resultado|gracias a)\b"
)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|ms|s|gb|mb|x)?\b")
_CODE = re.compile(r"`[^`]+`|\w+\(\)|\w+_\w+|\b[a-z]+[A-Z]\w*|[{}\[\]]|==|->|=>")


@dataclass
class _Features:
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
    explanation_ratio: float
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


def _measure(request: GradingRequest, concepts: list[_Term], keywords: list[_Term]) -> _Features:
    answer = request.answer
    text = _Text.of(answer)
    word_count = len(text.tokens)

    concept_credits = [_term_credit(term, text) for term in concepts]
    keyword_credits = [_term_credit(term, text) for term in keywords]
    question_stems = _question_stems(request.question)
    question_coverage = _mean([1.0 if text.has(s) else 0.0 for s in question_stems])

    topic: list[str] = list(question_stems)
    for term in (*concepts, *keywords):
        for form in term.forms:
            topic.extend(s for s in form if s not in topic)
    topic_recall = _mean([1.0 if text.has(s) else 0.0 for s in topic])

    folded = fold(answer)
    explanation_markers = len(set(_EXPLANATION_MARKERS.findall(folded)))
    concrete = 0.5 * bool(_NUMBER.search(answer)) + 0.5 * bool(_CODE.search(answer))

    sentences = [len(_WORD.findall(part)) for part in _SENTENCE_SPLIT.split(folded)]
    sentences = [count for count in sentences if count]
    well_formed = sum(count for count in sentences if 5 <= count <= 40)
    sentence_quality = well_formed / word_count if word_count else 0.0
    if word_count < 50:
        length_quality = word_count / 50
    elif word_count <= 300:
        length_quality = 1.0
    else:
        length_quality = max(0.3, 1 - (word_count - 300) / 500)

    term_stems = {s for term in (*concepts, *keywords) for form in term.forms for s in form}
    content = text.content_stems
    explanation_ratio = sum(1 for s in content if s not in term_stems) / len(content) if content else 0.0
    # Keywords stand in for concepts only when there are none: a few keywords in a sentence are normal.
    concepts_hit = sum(1 for credit in (concept_credits or keyword_credits) if credit >= 0.6)
    segments = [len(_WORD.findall(part)) for part in _LIST_SPLIT.split(folded)]
    segments = [count for count in segments if count]
    list_like = len(segments) >= 2 and _mean([float(c) for c in segments]) <= 4

    return _Features(
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
        explanation_ratio=explanation_ratio,
        list_like=list_like,
    )


# ---------------------------------------------------------------------------------------------------------
# Answers that address the grader

# The answer is untrusted text. These patterns catch the usual attempts to talk to the grader instead of
# the interviewer: overriding instructions, demanding a score, faking chat roles or the output format. They
# are kept narrow on purpose ('give each pod 10 seconds', 'ignore rules per line' are answers, not attacks).
_TOP_MARK = (
    r"(?:(?:(?:a|an|un|una)\s+)?(?:10|ten|diez)(?:\s*/\s*10|\s+(?:out of|sobre)\s+10|\s+(?:points|puntos))?"
    r"(?=\s*(?:[.!,;:)]|$|please|por favor|now|ahora))"
    r"|full marks|max(?:imum)? (?:score|grade|mark)|perfect score|top score|highest (?:score|grade|mark)"
    r"|(?:la )?nota maxima|(?:la )?maxima nota|(?:la )?(?:puntuacion|calificacion) maxima|matricula de honor)"
)
_INJECTION_PATTERNS = tuple(
    re.compile(pattern, re.MULTILINE)
    for pattern in (
        # Overriding the instructions.
        r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?"
        r"(?:(?:previous|prior|above|earlier|preceding|original|system|grading|scoring|evaluation)\s+)?"
        r"(?:instructions|prompt|rubric)\b",
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
        r"(?:previous|prior|above|grading|scoring|evaluation)\s+(?:rules|criteria|guidelines)\b",
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:above|before|previous)",
        r"\b(?:ignora|ignore|ignorad|olvida|olvide|olvidad|omite|omitid)\s+(?:todas\s+)?(?:las\s+|tus\s+|sus\s+)?"
        r"(?:(?:anteriores|previas)\s+)?(?:instrucciones|indicaciones|rubrica|prompt|reglas de (?:evaluacion|"
        r"calificacion)|reglas anteriores|criterios de (?:evaluacion|calificacion))\b",
        r"\b(?:ignora|olvida|ignore|olvide)\s+(?:todo\s+)?lo anterior\b",
        # Demanding a score.
        rf"\b(?:give|grant|award|assign|deserves?|(?:rate|score|grade|mark)\s+(?:me|this|it|my|the answer))\b"
        rf"[^.\n]{{0,40}}?\s{_TOP_MARK}",
        rf"\b(?:dame|deme|dale|ponme|pongame|ponle|pon|asigname|asignale|otorgame|otorgale|calificame|"
        rf"puntuame|merece|merezco|mereces)\b[^.\n]{{0,40}}?\s{_TOP_MARK}",
        r"\b10\s*/\s*10\b|\b10\s+(?:out of|sobre)\s+10\b",
        # Faking the conversation or the output.
        r"(?:^|\n)\s*(?:system|assistant|developer|sistema|asistente)\s*:",
        r"<\|?\s*(?:system|im_start|im_end|assistant)|\[/?inst\]|###\s*(?:system|instruction|instruccion)",
        r"[\"']score[\"']\s*:\s*\d",
        r"\b(?:new|updated) instructions\s*:|\bnuevas instrucciones\s*:",
        # Writing to the grader.
        r"\byou are now (?:an?|the) (?:grader|evaluator|assistant|ai|model|judge)\b",
        r"\bahora eres (?:un |una |el |la )?(?:evaluador|evaluadora|asistente|modelo|ia)\b",
        r"\b(?:note|message|instructions?) (?:to|for) (?:the )?(?:grader|evaluator|examiner|ai|model|llm)\b",
        r"\b(?:dear|hey|hello|hi) (?:grader|evaluator|examiner|ai|model)\b",
        r"\b(?:nota|mensaje|instrucciones?) (?:para|al) (?:el |la )?(?:evaluador|evaluadora|corrector|"
        r"correctora|modelo|ia)\b",
        r"\b(?:querido|estimado|hola) (?:evaluador|corrector|modelo)\b",
    )
)
# Naming the grader's role is only suspicious together with a demand: 'as the evaluator, you must...'.
_GRADER_ADDRESS = re.compile(
    r"\b(?:as (?:the|an|my) (?:evaluator|grader|examiner|assistant|ai|language model|llm|judge)|"
    r"como (?:el |la )?(?:evaluador|evaluadora|corrector|correctora|examinador|ia|modelo|asistente))\b"
)
_GRADE_DEMAND = re.compile(
    r"\b(?:must|should|have to|need to|will|debes|tienes que|deberias|has de)\b.{0,40}\b(?:score|grade|rate|mark|"
    r"give|puntu\w*|calific\w*|nota|dar|poner|evalu\w*)"
)


def _is_injection(answer: str) -> bool:
    folded = fold(answer)
    if any(pattern.search(folded) for pattern in _INJECTION_PATTERNS):
        return True
    return bool(_GRADER_ADDRESS.search(folded) and _GRADE_DEMAND.search(folded))


# ---------------------------------------------------------------------------------------------------------
# The grade

_TEXTS = {
    "en": {
        "coverage": "The answer covers {covered} of {total} expected concepts{names}.",
        "coverage_none": "The answer covers none of the {total} expected concepts ({missing}).",
        "coverage_terms": "The answer uses {percent}% of the question's key terms.",
        "missing": " It does not address {missing}.",
        "off_topic": "Most of it is unrelated to the question, so it cannot score above {cap}.",
        "concept_list": "It names concepts without explaining them, so it cannot score above {cap}.",
        "short": "It is too short to show real understanding.",
        "rambling": "It is very long; the extra length adds nothing beyond what it covers.",
        "explained": "It explains its reasoning with causes, examples or trade-offs.",
        "unexplained": "It states points with little explanation or example.",
        "injection": (
            "The answer contains instructions addressed to the grader (asking for a score or to ignore the "
            "grading rules) instead of answering the question. Such text is not an answer and scores at most "
            "{cap}."
        ),
        "strength_concepts": "Covers the key concepts: {names}.",
        "strength_explained": "Explains the reasoning with causes, examples or trade-offs.",
        "strength_concrete": "Gives concrete details (figures, code or specific tools).",
        "strength_clear": "Clear structure in complete sentences.",
        "strength_none": "No clear strengths: the answer does not address the question.",
        "strength_injection": "None: the answer addresses the grader instead of the question.",
        "improve_missing": "Cover the missing concepts: {names}.",
        "improve_explain": "Explain why and how, with an example or a trade-off, not only what.",
        "improve_list": "Write full sentences that explain each concept instead of listing names.",
        "improve_short": "Develop the answer: it is too short to show understanding.",
        "improve_rambling": "Be more concise and focus on what the question asks.",
        "improve_off_topic": "Answer the question that was asked: {question}",
        "improve_injection": "Answer the interview question; instructions to the grader are ignored and penalised.",
        "improve_polish": "Back the explanation with a concrete example or a measurement from your experience.",
        "and": " and ",
    },
    "es": {
        "coverage": "La respuesta cubre {covered} de {total} conceptos esperados{names}.",
        "coverage_none": "La respuesta no cubre ninguno de los {total} conceptos esperados ({missing}).",
        "coverage_terms": "La respuesta usa el {percent}% de los términos clave de la pregunta.",
        "missing": " No trata {missing}.",
        "off_topic": "Casi todo su contenido no tiene relación con la pregunta, así que no puede superar un {cap}.",
        "concept_list": "Nombra conceptos sin explicarlos, así que no puede superar un {cap}.",
        "short": "Es demasiado breve para demostrar comprensión real.",
        "rambling": "Es muy larga; la extensión no aporta nada más allá de lo que cubre.",
        "explained": "Explica su razonamiento con causas, ejemplos o compromisos.",
        "unexplained": "Enuncia ideas con poca explicación o ejemplos.",
        "injection": (
            "La respuesta contiene instrucciones dirigidas al evaluador (pide una nota o ignorar las reglas de "
            "evaluación) en lugar de responder a la pregunta. Ese texto no es una respuesta y recibe como "
            "máximo un {cap}."
        ),
        "strength_concepts": "Cubre conceptos clave: {names}.",
        "strength_explained": "Explica el razonamiento con causas, ejemplos o compromisos.",
        "strength_concrete": "Aporta detalles concretos (cifras, código o herramientas específicas).",
        "strength_clear": "Estructura clara, con frases completas.",
        "strength_none": "Sin puntos fuertes claros: la respuesta no trata la pregunta.",
        "strength_injection": "Ninguno: la respuesta se dirige al evaluador en lugar de a la pregunta.",
        "improve_missing": "Cubrir los conceptos que faltan: {names}.",
        "improve_explain": "Explicar por qué y cómo, con un ejemplo o un compromiso, no solo qué.",
        "improve_list": "Escribir frases completas que expliquen cada concepto en lugar de enumerarlos.",
        "improve_short": "Desarrollar la respuesta: es demasiado breve para demostrar comprensión.",
        "improve_rambling": "Ser más conciso y centrarse en lo que pregunta la pregunta.",
        "improve_off_topic": "Responder a la pregunta planteada: {question}",
        "improve_injection": "Responder a la pregunta de la entrevista; las instrucciones al evaluador se ignoran y "
        "se penalizan.",
        "improve_polish": "Apoyar la explicación con un ejemplo concreto o una medición de tu experiencia.",
        "and": " y ",
    },
}


def _join(names: list[str], language: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + _TEXTS[language]["and"] + names[-1]


def _short_answer_cap(word_count: int) -> float | None:
    for limit, cap in SHORT_ANSWER_CAPS:
        if word_count < limit:
            return cap
    return None


@dataclass
class _Verdict:
    """What the grade says about the answer, before it is put into words."""

    score: float
    parts: dict[str, float]
    covered: list[str]
    missing: list[str]
    coverage: float
    injection: bool
    off_topic: bool
    concept_list: bool
    too_short: bool
    rambling: bool
    explained: bool
    concrete: bool


def _judge(request: GradingRequest) -> _Verdict:
    concepts = [_term(name) for name in request.expected_concepts]
    keywords = [_term(name) for name in request.keywords]
    features = _measure(request, concepts, keywords)

    # With no expected concepts, keywords stand in for them, and with neither, the question's own terms.
    if concepts:
        concept_coverage = features.concept_coverage
    elif keywords:
        concept_coverage = features.keyword_coverage
    else:
        concept_coverage = features.question_coverage
    keyword_coverage = features.keyword_coverage if keywords else concept_coverage
    relevance = 0.45 * concept_coverage + 0.2 * keyword_coverage + 0.35 * features.topic_recall

    # Explanation only counts as depth when it is about the question.
    relevance_gate = min(relevance / 0.35, 1.0)
    reasoning = (0.3 * min(features.explanation_markers / 4, 1.0) + 0.15 * features.concrete) * relevance_gate
    parts = {
        "completeness": 3 * (0.6 * concept_coverage + 0.2 * keyword_coverage + 0.2 * features.question_coverage),
        "technical_depth": 3 * (0.55 * concept_coverage + reasoning),
        "clarity": 2 * (0.6 * features.sentence_quality + 0.4 * features.length_quality),
        "key_concepts": 2 * (0.8 * concept_coverage + 0.2 * keyword_coverage),
    }
    rambling = features.word_count > RAMBLING_WORDS
    if rambling:
        parts["clarity"] *= 0.6

    off_topic = relevance < 0.2 and concept_coverage < 0.25
    concept_list = (
        features.word_count > 0
        and not off_topic
        and (
            features.longest_sentence < 6
            or features.list_like
            or features.words_per_concept < 6
            or (features.explanation_ratio < 0.35 and features.word_count < 60)
        )
    )
    short_cap = _short_answer_cap(features.word_count)
    injection = _is_injection(request.answer)

    # Length and wording never buy more than the coverage supports.
    score = min(sum(parts.values()), 2.5 + 7.5 * (0.7 * concept_coverage + 0.3 * keyword_coverage))
    if off_topic:
        score = min(score, OFF_TOPIC_CAP * relevance / 0.2)
    if concept_list:
        score = min(score, 1.0 + (CONCEPT_LIST_CAP - 1.0) * concept_coverage)
    if short_cap is not None:
        score = min(score, short_cap)
    if injection:
        score = min(score * 0.1, INJECTION_CAP)

    credits = list(zip(request.expected_concepts, features.concept_credits, strict=True))
    return _Verdict(
        score=round(max(score, 0.0), 1),
        parts=parts,
        covered=[name for name, credit in credits if credit >= 1.0],
        missing=[name for name, credit in credits if credit < 1.0],
        coverage=concept_coverage,
        injection=injection,
        off_topic=off_topic,
        concept_list=concept_list,
        too_short=short_cap is not None and short_cap < 6,
        rambling=rambling,
        explained=features.explanation_markers >= 2,
        concrete=features.concrete >= 0.5,
    )


def _justification(verdict: _Verdict, request: GradingRequest, language: str) -> str:
    texts = _TEXTS[language]
    sentences: list[str] = []
    if verdict.injection:
        sentences.append(texts["injection"].format(cap=f"{INJECTION_CAP:g}"))
    if not request.expected_concepts:
        sentences.append(texts["coverage_terms"].format(percent=round(100 * verdict.coverage)))
    elif not verdict.covered:
        total = len(request.expected_concepts)
        sentences.append(texts["coverage_none"].format(total=total, missing=_join(verdict.missing, language)))
    else:
        names = f" ({_join(verdict.covered, language)})"
        total = len(request.expected_concepts)
        sentences.append(texts["coverage"].format(covered=len(verdict.covered), total=total, names=names))
        if verdict.missing and not verdict.injection:
            sentences.append(texts["missing"].format(missing=_join(verdict.missing, language)).strip())
    if verdict.injection:
        return " ".join(sentences)
    if verdict.off_topic:
        sentences.append(texts["off_topic"].format(cap=f"{OFF_TOPIC_CAP:g}"))
    elif verdict.concept_list:
        sentences.append(texts["concept_list"].format(cap=f"{CONCEPT_LIST_CAP:g}"))
    elif verdict.too_short:
        sentences.append(texts["short"])
    elif verdict.rambling:
        sentences.append(texts["rambling"])
    else:
        sentences.append(texts["explained" if verdict.explained else "unexplained"])
    return " ".join(sentences)


def _strengths(verdict: _Verdict, language: str) -> list[str]:
    texts = _TEXTS[language]
    if verdict.injection:
        return [texts["strength_injection"]]
    strengths: list[str] = []
    if verdict.covered:
        strengths.append(texts["strength_concepts"].format(names=_join(verdict.covered, language)))
    if not verdict.off_topic and not verdict.concept_list:
        if verdict.explained:
            strengths.append(texts["strength_explained"])
        if verdict.concrete:
            strengths.append(texts["strength_concrete"])
        if verdict.parts["clarity"] >= 1.4:
            strengths.append(texts["strength_clear"])
    return strengths or [texts["strength_none"]]


def _improvements(verdict: _Verdict, request: GradingRequest, language: str) -> list[str]:
    texts = _TEXTS[language]
    if verdict.injection:
        return [texts["improve_injection"]]
    improvements: list[str] = []
    if verdict.off_topic:
        improvements.append(texts["improve_off_topic"].format(question=request.question))
    if verdict.missing:
        improvements.append(texts["improve_missing"].format(names=_join(verdict.missing, language)))
    if verdict.concept_list:
        improvements.append(texts["improve_list"])
    elif verdict.too_short:
        improvements.append(texts["improve_short"])
    if verdict.rambling:
        improvements.append(texts["improve_rambling"])
    if not verdict.explained and not verdict.off_topic:
        improvements.append(texts["improve_explain"])
    return improvements or [texts["improve_polish"]]


def heuristic_grade(request: GradingRequest) -> GradeResult:
    """Grade `request` from surface features; the result follows the one output schema.

    The breakdown comes from the features and is then scaled to the score (`normalise_grade` reconciles
    them), because the caps above act on the score: an off-topic answer written in clear sentences still
    gets a low clarity share of a low score.
    """
    language = request.language if request.language in _TEXTS else "en"
    verdict = _judge(request)
    return normalise_grade(
        {
            "score": verdict.score,
            "breakdown": {name: round(value, 3) for name, value in verdict.parts.items()},
            "justification": _justification(verdict, request, language),
            "strengths": _strengths(verdict, language),
            "improvements": _improvements(verdict, request, language),
            "concepts_covered": verdict.covered,
            "missing_concepts": verdict.missing,
        }
    )
