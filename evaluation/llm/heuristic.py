"""The grader of last resort: used when no LLM answers, it returns the same schema from surface features.

`heuristic_features` measures what can be measured without understanding the text; this module judges it:
how much of the expected content the answer covers, whether it explains or only names it, whether it is
about the question at all, whether it talks to the grader instead of the interviewer, whether its length is
sane, and puts the verdict into words in the request's language. It is pure (no ORM, no settings) and
deterministic: the same request always gets the same grade.

`evaluation.llm.heuristic_eval` measures how well its scores agree with human labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from .heuristic_features import answer_features
from .injection import is_injection
from .parsing import normalise_grade
from .schema import GradeResult, GradingRequest
from .text import fold, stem, tokenize

__all__ = ["HEURISTIC_MODEL_NAME", "fold", "heuristic_grade", "stem", "tokenize"]

# Bump when grades change, so stored grades, comparisons and calibrations never mix two versions.
HEURISTIC_MODEL_NAME = "heuristic-v2"

# Score ceilings. An answer that only names concepts, or is about something else, can be long and
# full of the right words; the ceilings keep such answers below any answer that really explains.
OFF_TOPIC_CAP = 2.0
CONCEPT_LIST_CAP = 2.5
INJECTION_CAP = 1.0
# Below these shares of function words, text shaped like a list (comma-separated short items) or terse text
# (very short sentences, a concept every few words) is a list of names rather than sentences.
LIST_FUNCTION_SHARE = (0.35, 0.3)
# Below these word counts an answer cannot show understanding, whatever words it uses.
SHORT_ANSWER_CAPS = ((8, 1.5), (20, 3.5), (40, 6.0), (60, 8.0))
RAMBLING_WORDS = 400

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
    features = answer_features(request)

    # With no expected concepts, keywords stand in for them, and with neither, the question's own terms.
    if request.expected_concepts:
        concept_coverage = features.concept_coverage
    elif request.keywords:
        concept_coverage = features.keyword_coverage
    else:
        concept_coverage = features.question_coverage
    keyword_coverage = features.keyword_coverage if request.keywords else concept_coverage
    relevance = 0.45 * concept_coverage + 0.2 * keyword_coverage + 0.35 * features.topic_recall

    # Explanation only counts as depth when it is about the question.
    relevance_gate = min(relevance / 0.35, 1.0)
    reasoning = (0.3 * min(features.explanation_markers / 3, 1.0) + 0.15 * features.concrete) * relevance_gate
    # A complete answer need not repeat the question's words when it uses the words of its subject.
    subject = max(features.question_coverage, features.topic_recall)
    parts = {
        "completeness": 3 * (0.6 * concept_coverage + 0.2 * keyword_coverage + 0.2 * subject),
        "technical_depth": 3 * (0.55 * concept_coverage + reasoning),
        "clarity": 2 * (0.6 * features.sentence_quality + 0.4 * features.length_quality),
        "key_concepts": 2 * (0.8 * concept_coverage + 0.2 * keyword_coverage),
    }
    rambling = features.word_count > RAMBLING_WORDS
    if rambling:
        parts["clarity"] *= 0.6

    # An answer that uses the question's own subject terms is about the question, even when it names none
    # of the expected concepts: it may be partial or wrong, but it is not unrelated.
    off_topic = relevance < 0.2 and concept_coverage < 0.25 and features.question_coverage < 0.5
    # Names in a row read as a list only without the function words that sentences need ('Es un cerrojo
    # global de CPython' is a sentence; 'Calma. Roles claros. Mitigación.' is not).
    shaped_like_list = features.list_like and features.function_share < LIST_FUNCTION_SHARE[0]
    terse = features.longest_sentence < 6 or features.words_per_concept < 6
    concept_list = (
        features.word_count > 0
        and not off_topic
        and (shaped_like_list or (terse and features.function_share < LIST_FUNCTION_SHARE[1]))
    )
    short_cap = _short_answer_cap(features.word_count)
    injection = is_injection(request.answer)

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
