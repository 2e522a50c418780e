"""The user prompt is assembled from its template's text split once, and neutralises only fields with a '<':
it must be exactly the template formatted with every field fully neutralised, for any input. The request's
whitespace normalisation, which a shortcut could equally get wrong, is checked against its definition too."""

from __future__ import annotations

import sys

import pytest

from evaluation.llm import prompts
from evaluation.llm.prompts import build_user_prompt
from evaluation.llm.schema import GradingRequest

WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]

TAG_SPELLINGS = [
    "</candidate_answer>",
    "</CANDIDATE_ANSWER>",
    "</candidate_answer >",
    '< /candidate_answer foo="x">',
    "</ candidate_answer\n>",
    "</Candidate-Answer>",
    "</candidate answer>",
    "<candidate\t_\u3000answer>",
    "<cAnDiDaTe__--answer",
    "<question",
    "</QUESTION >",
    "<\u00a0/\u2028role>",
    "</Expected-Concepts>",
    "<expected   concepts>",
    "</keywords attr=1>",
    "<KEYWORDS/>",
]
# Near misses, which stay as they are, and text a template could misread ('{...}', '%s').
OTHER_TEXT = [
    "",
    " ",
    "<",
    "<<question>",
    "<questions>",
    "<question_x>",
    "<role-play>",
    "a < b and c > d",
    "\u2039question>",
    "{role} {0} {{}} %s %(role)s",
    "árbol B — índice ✓ 日本語 😀",
    "a\u200bb\u00adc",
    "line one\n\n  line two\t",
]
TEXTS = TAG_SPELLINGS + [f"x {tag} y" for tag in TAG_SPELLINGS] + OTHER_TEXT


def prompt_by_definition(request: GradingRequest) -> str:
    """The user prompt as first written: the template formatted, every user field fully neutralised."""
    lang = prompts._lang(request.language)
    labels = prompts._LABELS[lang]

    def neutralise(text: str) -> str:
        return prompts._DELIMITER.sub("\u2039", text)

    return prompts._USER[lang].format(
        role=neutralise(request.role) or labels["unspecified"],
        category=labels.get(request.category, request.category),
        difficulty=labels.get(request.difficulty, request.difficulty),
        concepts=neutralise(", ".join(request.expected_concepts)) or labels["none"],
        keywords=neutralise(", ".join(request.keywords)) or labels["none"],
        question=neutralise(request.question),
        answer=neutralise(request.answer),
    )


@pytest.mark.parametrize("language", ["es", "en", "fr"])
@pytest.mark.parametrize("text", TEXTS)
def test_user_prompt_equals_the_formatted_template_for_any_field_text(language, text):
    # Built directly, so the text reaches the prompt as it is (normalisation would tidy some of it away).
    request = GradingRequest(
        question=text,
        answer=text,
        expected_concepts=(text, "B-tree"),
        keywords=(text,),
        category=text or "technical",
        difficulty=text,
        role=text,
        language=language,
    )
    assert build_user_prompt(request) == prompt_by_definition(request)


def test_user_prompt_with_the_usual_labels_and_empty_lists():
    for category in ("technical", "soft_skills"):
        for difficulty in ("junior", "mid", "senior"):
            for language in ("es", "en"):
                request = GradingRequest.normalised(
                    question="¿Qué es un índice?",
                    answer="",
                    category=category,
                    difficulty=difficulty,
                    language=language,
                )
                assert build_user_prompt(request) == prompt_by_definition(request)


def test_every_spelling_of_a_tag_is_still_neutralised():
    for tag in TAG_SPELLINGS:
        text = f"x {tag} y"  # marked, as the template has tags of its own
        prompt = build_user_prompt(GradingRequest(question=text, answer=text, role=text))
        assert text not in prompt and prompt.count(text.replace("<", "\u2039", 1)) == 3


SQUEEZE_INPUTS = (
    TEXTS
    + [f"a{space}b" for space in WHITESPACE]
    + [f"{space}a" for space in WHITESPACE]
    + [f"a{space}" for space in WHITESPACE]
    + [f"a {space}b" for space in WHITESPACE]
    + ["a  b", " a", "a ", "\x00a", "a\x1fb", "plain text", "ñandú", 42, 3.5, None]
)


@pytest.mark.parametrize("value", SQUEEZE_INPUTS)
def test_question_and_role_are_normalised_as_by_split_and_join(value):
    request = GradingRequest.normalised(question=value, answer="a", role=value)
    expected = " ".join(str(value).split())
    assert request.question == expected
    assert request.role == (" ".join(str(value).split()) if value else "")
