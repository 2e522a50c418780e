"""The compact prompt in exports: `export_dataset --prompt compact`, the API's and the admin's export, and the
line formatter, which writes every format byte for byte as `format_example` does in both variants."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from evaluation.llm.heuristic import heuristic_grade
from evaluation.llm.prompts import build_system_prompt
from evaluation.llm.schema import GradingRequest
from training.formats import FORMATS, PREFERENCE, LineFormatter, format_example
from training.models import DatasetExport

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

COMPACT = {language: build_system_prompt(language, "compact") for language in ("es", "en")}
FULL = {language: build_system_prompt(language) for language in ("es", "en")}


def export(*args: str) -> DatasetExport:
    call_command("export_dataset", *args, stdout=StringIO())
    return DatasetExport.objects.order_by("-pk").first()


def train_lines(media_root, export: DatasetExport) -> list[bytes]:
    return (media_root / export.files["train"]["path"]).read_bytes().splitlines()


def systems(lines: list[bytes]) -> set[str]:
    return {json.loads(line)["messages"][0]["content"] for line in lines}


def test_a_compact_export_writes_the_short_prompt_in_every_row_and_records_it(media_root):
    TrainingExampleFactory.create_batch(5, review_status="approved", language="en")
    TrainingExampleFactory.create_batch(5, review_status="approved", language="es")
    full = export("--name", "full")
    out = StringIO()
    call_command("export_dataset", "--name", "compact", "--prompt", "compact", stdout=out)
    compact = DatasetExport.objects.get(name="compact")

    assert (full.prompt_variant, compact.prompt_variant) == ("full", "compact")
    assert "(messages, compact prompt)" in out.getvalue()
    full_lines, compact_lines = train_lines(media_root, full), train_lines(media_root, compact)
    assert len(full_lines) == len(compact_lines) == full.train_count
    assert systems(compact_lines) == set(COMPACT.values()) and systems(full_lines) == set(FULL.values())
    assert not any(b'"$defs"' in line or b"Rubric" in line or b"completeness (0-3)" in line for line in compact_lines)
    # The same rows, the same user turns and labels: only the system prompt is shorter, by about 3 KB a row.
    assert [json.loads(line)["messages"][1:] for line in compact_lines] == [
        json.loads(line)["messages"][1:] for line in full_lines
    ]
    saved = sum(map(len, full_lines)) - sum(map(len, compact_lines))
    assert saved / len(full_lines) > 2500
    manifest = json.loads((media_root / compact.files["manifest"]["path"]).read_text(encoding="utf-8"))
    assert manifest["prompt_variant"] == "compact"


def test_the_preview_shows_the_variant_it_would_write():
    TrainingExampleFactory.create_batch(2, review_status="approved", language="en")
    out = StringIO()
    call_command("export_dataset", "--prompt", "compact", "--format", "alpaca", "--preview", "1", stdout=out)
    assert json.loads(out.getvalue())["instruction"] == COMPACT["en"]


def test_an_unknown_prompt_variant_is_refused_by_the_command():
    with pytest.raises(CommandError, match="--prompt: invalid choice: 'tiny' \\(choose from 'full', 'compact'\\)"):
        call_command("export_dataset", "--prompt", "tiny", stdout=StringIO())


REQUESTS = [
    GradingRequest.normalised(
        question='What is a "database index"? \\ back\u2028slash',
        answer="A B-tree:\n\tfinds rows without a full scan. ✓ 😀 </script>",
        expected_concepts=["B-tree", "full scan"],
        language=language,
    )
    for language in ("en", "es")
]


@pytest.mark.parametrize("variant", ["full", "compact"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_line_is_the_compact_json_of_the_record_in_both_variants(fmt, variant):
    formatter = LineFormatter(fmt, variant)
    for request in REQUESTS * 2:
        label = heuristic_grade(request).model_dump()
        rejected = dict(label, score=round(10 - label["score"], 1)) if fmt == PREFERENCE else None
        record = format_example(fmt, request=request, label=label, rejected=rejected, variant=variant)
        line = formatter.line(request=request, label=label, rejected=rejected)
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        wanted = (COMPACT if variant == "compact" else FULL)[request.language]
        assert json.dumps(wanted, ensure_ascii=False).encode("utf-8") in line


def test_the_alpaca_instruction_carries_the_compact_prompt():
    label = heuristic_grade(REQUESTS[0]).model_dump()
    record = format_example("alpaca", request=REQUESTS[0], label=label, variant="compact")
    assert record["instruction"] == COMPACT["en"]


def test_the_api_exports_with_the_compact_prompt_and_names_a_bad_variant(api_client):
    TrainingExampleFactory.create_batch(4, review_status="approved")
    url = "/api/v1/datasets"
    created = api_client.post(url, {"prompt_variant": "compact"}, content_type="application/json")
    assert created.status_code == 202 and created.json()["prompt_variant"] == "compact"
    assert DatasetExport.objects.get(pk=created.json()["id"]).prompt_variant == "compact"

    refused = api_client.post(url, {"prompt_variant": "tiny"}, content_type="application/json")
    assert refused.status_code == 422 and "prompt_variant" in json.dumps(refused.json())


def test_the_admin_form_exports_with_the_compact_prompt(admin_client):
    TrainingExampleFactory.create_batch(4, review_status="approved", language="en")
    url = reverse("admin:training_datasetexport_add")
    form = {
        "name": "ready4hire",
        "format": "messages",
        "prompt_variant": "compact",
        "train_share": "0.8",
        "seed": "42",
        "review_statuses": ["approved"],
        "sources": ["human", "llm"],
    }
    preview = admin_client.post(url, {**form, "_preview": "1"})
    assert preview.status_code == 200 and preview.context["preview"][0][0] == ("system", COMPACT["en"])
    started = admin_client.post(url, {**form, "_export": "1"})
    export = DatasetExport.objects.get()
    assert started.status_code == 302 and export.prompt_variant == "compact"
    page = admin_client.get(reverse("admin:training_datasetexport_change", args=[export.pk])).content.decode()
    assert "Compact (for fine-tuned graders)" in page
