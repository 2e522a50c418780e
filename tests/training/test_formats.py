"""Tests of the training-data formats: the live prompt and the label in each, validated and compact."""

from __future__ import annotations

import json

import pytest

from evaluation.llm.heuristic import heuristic_grade
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import GradingRequest
from training.formats import FORMATS, format_example, label_json

REQUEST = GradingRequest.normalised(
    question="What is a database index?",
    answer="A B-tree that lets the database find rows without scanning the whole table.",
    expected_concepts=["B-tree", "full scan"],
    language="en",
)
LABEL = heuristic_grade(REQUEST).model_dump()


def test_every_format_carries_the_live_prompt_and_the_label_as_compact_json():
    live_system, live_user = (m["content"] for m in build_messages(REQUEST))
    alpaca = format_example("alpaca", request=REQUEST, label=LABEL)
    assert alpaca == {"instruction": live_system, "input": live_user, "output": label_json(LABEL)}
    sharegpt = format_example("sharegpt", request=REQUEST, label=LABEL)
    assert [turn["from"] for turn in sharegpt["conversations"]] == ["system", "human", "gpt"]
    assert sharegpt["conversations"][1]["value"] == live_user
    messages = format_example("messages", request=REQUEST, label=LABEL)
    assert [m["role"] for m in messages["messages"]] == ["system", "user", "assistant"]
    assert json.loads(messages["messages"][2]["content"]) == LABEL
    assert set(FORMATS) == {"alpaca", "sharegpt", "messages", "preference"}


def test_the_label_is_validated_and_written_in_schema_order():
    shuffled = dict(reversed(list(LABEL.items())))
    assert label_json(shuffled) == label_json(LABEL)
    assert label_json(LABEL).startswith('{"score":')
    assert ": " not in label_json(LABEL)[:20]
    with pytest.raises(ValueError):
        label_json({**LABEL, "score": "high"})


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        format_example("csv", request=REQUEST, label=LABEL)
