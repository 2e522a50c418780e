"""The grade's schema as a byte automaton (what the local backend lets a model write): real grades pass
byte by byte, anything a server's grammar would refuse is refused at the first wrong byte."""

from __future__ import annotations

import json

import pytest

from evaluation.llm.constrained import SchemaAutomaton, UnsupportedSchema
from evaluation.llm.schema import grade_json_schema

GRADE = {
    "score": 7.5,
    "breakdown": {"completeness": 2.5, "technical_depth": 2.0, "clarity": 1.5, "key_concepts": 1.5},
    "justification": 'Covers "GIL" well.\nNo example; uses \\u00e9 and ñ.',
    "strengths": ["clear", "correct"],
    "improvements": [],
    "concepts_covered": ["GIL"],
    "missing_concepts": ["multiprocessing"],
}


@pytest.fixture(scope="module")
def automaton() -> SchemaAutomaton:
    return SchemaAutomaton(grade_json_schema())


def compact(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_a_compact_grade_is_accepted_to_the_end(automaton):
    state = automaton.feed(automaton.start, compact(GRADE))
    assert state is not None and automaton.done(state)
    zero = {**GRADE, "score": 0, "breakdown": {**GRADE["breakdown"], "clarity": 0.05}}
    assert automaton.done(automaton.feed(automaton.start, compact(zero)))


def test_every_prefix_is_alive_and_not_done(automaton):
    data = compact(GRADE)
    for end in range(len(data)):
        state = automaton.feed(automaton.start, data[:end])
        assert state is not None and not automaton.done(state), data[:end]


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 7',  # whitespace: the output is compact
        '{"breakdown":',  # keys come in the schema's order
        '{"score":07',  # not a JSON number
        '{"score":-1',  # no sign: scores are not negative
        '{"score":7.,',  # a fraction needs digits
        '{"score":"7"',  # a number, not a string
        '{"score":7,"breakdown":{"completeness":1,"technical_depth":1,"clarity":1,"key_concepts":1},"justification":"a\nb',
        '{"score":7,"breakdown":{"completeness":1,"technical_depth":1,"clarity":1,"key_concepts":1},"justification":"\\x',
        '{"score":7,"breakdown":{"completeness":1,"technical_depth":1,"clarity":1,"key_concepts":1},"justification":"ok",'
        '"strengths":["a",]',
    ],
)
def test_what_a_grammar_refuses_is_refused(automaton, text):
    assert automaton.feed(automaton.start, text.encode()) is None


def test_nothing_follows_a_complete_grade(automaton):
    assert automaton.feed(automaton.start, compact(GRADE) + b" ") is None


def test_schemas_it_cannot_express_are_refused():
    with pytest.raises(UnsupportedSchema):
        SchemaAutomaton({"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]})
    with pytest.raises(UnsupportedSchema, match="required"):
        SchemaAutomaton({"type": "object", "properties": {"a": {"type": "string"}}, "required": []})
