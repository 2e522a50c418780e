"""Answers that address the grader instead of the interviewer: prompt-injection attempts in an answer.

The answer is untrusted text. These patterns catch the usual attempts: overriding instructions, demanding a
score, faking chat roles or the output format, writing to the grader. They are kept narrow on purpose
('give each pod 10 seconds', 'ignore rules per line' are answers, not attacks). Matching is on folded text,
so accents and case do not matter.
"""

from __future__ import annotations

import re

from .text import fold

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


def is_injection(answer: str) -> bool:
    """Whether the answer talks to the grader (asks for a score, overrides instructions) instead of answering."""
    folded = fold(answer)
    if any(pattern.search(folded) for pattern in _INJECTION_PATTERNS):
        return True
    return bool(_GRADER_ADDRESS.search(folded) and _GRADE_DEMAND.search(folded))
