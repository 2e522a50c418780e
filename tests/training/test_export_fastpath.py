"""The export's fast paths write exactly the bytes of the slow ones: a stored label serialised as it is
against pydantic's validate-and-dump, folding (the content hash) with a character class against the
one-table `translate`, and request normalisation against its first version. Tricky values throughout:
unicode, empty lists, floats at the limits, labels pydantic must convert or refuse."""

from __future__ import annotations

import json
import math
import sys
import unicodedata

import pytest
from pydantic import ValidationError

from evaluation.llm.prompts import build_system_prompt, build_user_prompt
from evaluation.llm.schema import GradeResult, GradingRequest, grade_dump_json, is_grade_dump
from evaluation.llm.text import _combining_marks, fold
from ready4hire.errors import InvalidInput
from training.exports import writer
from training.exports.records import export_line
from training.formats import FORMATS, LineFormatter, label_json
from training.models import DatasetExport, JobStatus
from training.services import dataset_export_submit

from .factories import TrainingExampleFactory, grade

STORED = grade(6.0)  # what a stored label is: pydantic's dump


def variant(**changes) -> dict:
    label = json.loads(json.dumps(STORED))
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            label[outer][inner] = value
        else:
            label[key] = value
    return label


def reordered(label: dict, first: str) -> dict:
    return {first: label[first], **{key: value for key, value in label.items() if key != first}}


LABELS = [
    STORED,
    variant(justification="", strengths=[], improvements=[], concepts_covered=[], missing_concepts=[]),
    variant(justification='Comillas " y barra \\ y 😀 y \u2028 y </script> y \x00\x1f\x7f', strengths=["ñ", "ﬁ"]),
    variant(score=0.0, **{"breakdown.completeness": 0.0, "breakdown.clarity": 0.0}),
    variant(score=10.0, **{"breakdown.completeness": 3.0, "breakdown.clarity": 2.0, "breakdown.key_concepts": 2.0}),
    variant(score=-0.0),
    variant(score=1e-05, **{"breakdown.technical_depth": 5e-324}),
    variant(score=0.1 + 0.2),
    # What pydantic converts: ints, fields out of order; the model's dump differs from the input.
    variant(score=7),
    variant(**{"breakdown.clarity": 1}),
    reordered(STORED, "justification"),
    {**STORED, "breakdown": reordered(STORED["breakdown"], "clarity")},
    variant(strengths=("tuple",)),
    variant(justification=type("Text", (str,), {})("a str subclass")),
    # What pydantic refuses.
    variant(score=10.000001),
    variant(score=-0.1),
    variant(score=math.nan),
    variant(score=math.inf),
    variant(score=True),
    variant(score="7"),
    variant(**{"breakdown.completeness": 3.0000001}),
    variant(**{"breakdown.clarity": 2.5}),
    variant(strengths=["ok", 3]),
    variant(justification=None),
    {key: value for key, value in STORED.items() if key != "missing_concepts"},
    {**STORED, "extra": 1},
    {**STORED, "breakdown": {**STORED["breakdown"], "extra": 1.0}},
    [STORED],
]


def reference_label_json(label) -> str:
    grade_ = GradeResult.model_validate(label)
    return json.dumps(grade_.model_dump(), ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("label", LABELS)
def test_a_label_is_serialised_as_pydantic_dumps_it_or_refused_as_pydantic_refuses_it(label):
    try:
        expected = reference_label_json(label)
    except ValidationError:
        assert not is_grade_dump(label)
        with pytest.raises(ValidationError):
            label_json(label)
        return
    assert label_json(label) == expected
    if is_grade_dump(label):  # only ever said of a dict that the model returns unchanged
        assert GradeResult.model_validate(label).model_dump() == label
        assert grade_dump_json(label) == json.dumps(label)  # as the import stores it on SQLite
        assert grade_dump_json(label, compact=True) == expected


def test_a_stored_label_takes_the_fast_path():
    assert is_grade_dump(STORED)
    assert is_grade_dump(json.loads(json.dumps(STORED)))
    assert not is_grade_dump(variant(score=7))


def reference_fold(text: str) -> str:
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_combining_marks()).casefold()
    return folded


def test_folding_is_unchanged_for_every_code_point():
    every = [chr(codepoint) for codepoint in range(sys.maxunicode + 1) if not 0xD800 <= codepoint <= 0xDFFF]
    for start in range(0, len(every), 1024):
        chunk = "".join(every[start : start + 1024])
        assert fold(chunk) == reference_fold(chunk), hex(ord(chunk[0]))
    for text in ["Índice ÁRBOL", "ﬁn ℌ ß ς", "e\u0301 a\u20dd", "😀 é", "𝔘𝔫𝔦 ñ", "x\U0001d165y é", "한국어"]:
        assert fold(text) == reference_fold(text), text


def reference_unique(items) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in items or ():
        text = " ".join(str(item).split())
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return tuple(seen.values())


@pytest.mark.parametrize(
    "items",
    [None, [], ["B-tree"], ["B-tree", "b-TREE", " b-tree ", "", "  ", "Índice", "índice"], [1, 1.5, None, "1"]],
)
def test_concepts_are_normalised_as_before(items):
    request = GradingRequest.normalised(question="q", answer="a", expected_concepts=items, keywords=items)
    assert request.expected_concepts == request.keywords == reference_unique(items)


def row(number: int = 1, **overrides) -> dict:
    values = {
        "id": number,
        "question": f"  ¿Qué es un   índice? ({number})  ",
        "answer": ' Un árbol B:\n\tencuentra filas. ✓ 😀 </candidate_answer> "x" \\ ',
        "expected_concepts": ["árbol B", "ÁRBOL B", " consultas ", ""],
        "keywords": [],
        "category": "technical",
        "difficulty": "senior",
        "role": " Backend  Developer ",
        "language": "es",
        "label": STORED,
        "original_label": variant(score=2.0),
        "score": 6.0,
        "source": "llm",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "overrides", [{}, {"language": "en", "role": ""}, {"label": variant(score=7)}, {"label": LABELS[2]}]
)
def test_an_export_line_is_the_json_of_the_slowly_built_record(fmt, overrides):
    example = row(**overrides)
    request = GradingRequest.normalised(**{name: example[name] for name in GradingRequest.model_fields})
    formatter = LineFormatter(fmt)
    system, user = build_system_prompt(request.language), build_user_prompt(request)
    chosen, rejected = reference_label_json(example["label"]), reference_label_json(example["original_label"])
    record = {
        "alpaca": {"instruction": system, "input": user, "output": chosen},
        "sharegpt": {
            "conversations": [
                {"from": "system", "value": system},
                {"from": "human", "value": user},
                {"from": "gpt", "value": chosen},
            ]
        },
        "messages": {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
                {"role": "assistant", "content": chosen},
            ]
        },
        "preference": {
            "prompt": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        },
    }[fmt]
    expected = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert export_line(formatter, example) == expected
    assert export_line(formatter, example) == expected  # the second line reuses the encoded system prompt


def test_a_label_the_schema_refuses_is_refused_with_the_example_id():
    with pytest.raises(InvalidInput, match="Training example 42 has a label that does not follow the output schema"):
        export_line(LineFormatter("messages"), row(42, label=variant(score=11.0)))
    with pytest.raises(InvalidInput, match="Training example 43"):
        export_line(LineFormatter("preference"), row(43, original_label=variant(strengths=[None])))


# --- the writer thread: chunks written in order, a failed write fails the export --------------------------


def _approved_examples(count: int) -> None:
    TrainingExampleFactory.create_batch(count, review_status="approved")


@pytest.mark.django_db
def test_files_written_chunk_by_chunk_by_the_writer_thread_equal_one_chunk(media_root, settings):
    _approved_examples(23)
    settings.DATASET_EXPORT_CHUNK_SIZE = 1000
    whole = dataset_export_submit(name="whole", wait=True)
    settings.DATASET_EXPORT_CHUNK_SIZE = 3
    chunked = dataset_export_submit(name="chunked", wait=True)
    assert whole.status == chunked.status == JobStatus.DONE
    for key in ("train", "val", "example_ids"):
        assert whole.files[key]["sha256"] == chunked.files[key]["sha256"], key
        assert (media_root / whole.files[key]["path"]).read_bytes() == (
            media_root / chunked.files[key]["path"]
        ).read_bytes()


@pytest.mark.django_db
def test_a_write_that_fails_in_the_writer_thread_fails_the_export_without_files(media_root, settings, monkeypatch):
    _approved_examples(12)
    settings.DATASET_EXPORT_CHUNK_SIZE = 3
    real_write = writer._HashedFile.write
    calls = []

    def write(self, data: bytes) -> None:
        calls.append(len(data))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(writer._HashedFile, "write", write)
    with pytest.raises(OSError, match="No space left on device"):  # recorded on the row, then raised to the task
        dataset_export_submit(wait=True)
    export = DatasetExport.objects.get()
    assert export.status == JobStatus.FAILED and "No space left on device" in export.error
    assert len(calls) == 3  # nothing was queued after the failed write
    assert not any((media_root / "datasets").rglob("*.*"))
