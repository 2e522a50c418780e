"""Preference tuning from corrections: the `preference` export pairs the reviewer's grade (chosen) with the
machine's original grade (rejected), only for corrected examples, and `finetune --method dpo` trains on it
(TRL's DPOTrainer) on the CPU with a tiny random-initialised base; DPO on an export without corrections is
refused before any run exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ready4hire.errors import InvalidInput
from training.finetune.deps import missing_train_packages
from training.formats import label_json
from training.models import DatasetExport, FineTuneRun, JobStatus, ModelVersion
from training.selectors.exports import dataset_export_file_path
from training.services.exports import dataset_export_submit

from ..conftest import service_missing
from .factories import TrainingExampleFactory, grade

# The command trains in a worker thread, which must see the rows this test commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def train_extra(media_root) -> None:
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")


def _examples(*, corrected: int, uncorrected: int) -> list:
    rows = []
    for index in range(corrected):
        human, machine = 3.0 + index % 5, 8.0 - index % 4
        rows.append(
            TrainingExampleFactory(
                score=human,
                label=grade(human),
                original_label=grade(machine),
                original_score=machine,
                source="human",
                review_status="approved",
                category=("technical", "behavioral")[index % 2],
            )
        )
    rows += [TrainingExampleFactory(review_status="approved") for _ in range(uncorrected)]
    return rows


def _records(export: DatasetExport, split: str) -> list[dict]:
    path = dataset_export_file_path(export=export, file=split)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_preference_export_pairs_the_human_grade_over_the_machine_grade(media_root):
    corrected = _examples(corrected=6, uncorrected=4)[:6]
    export = dataset_export_submit(name="prefs", fmt="preference", wait=True)
    assert export.status == JobStatus.DONE, export.error
    assert export.filters["corrected_only"] is True
    records = _records(export, "train") + _records(export, "val")
    assert len(records) == 6  # the uncorrected examples have no rejected side
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in records}
    assert pairs == {(label_json(e.label), label_json(e.original_label)) for e in corrected}
    first = records[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert first["chosen"][0]["role"] == first["rejected"][0]["role"] == "assistant"
    info = json.loads(dataset_export_file_path(export=export, file="dataset_info").read_text(encoding="utf-8"))
    assert info["prefs_train"]["ranking"] is True and "--method dpo" in info["prefs_train"]["note"]


def test_preference_export_without_corrections_is_refused(media_root):
    _examples(corrected=0, uncorrected=5)
    with pytest.raises(InvalidInput, match="reviewer corrections") as caught:
        dataset_export_submit(name="prefs", fmt="preference", wait=True)
    assert caught.value.field == "format"
    assert not DatasetExport.objects.exists()


def test_dpo_on_an_export_without_corrections_is_refused_before_any_run(train_extra):
    _examples(corrected=0, uncorrected=6)
    export = dataset_export_submit(name="sft", fmt="messages", wait=True)
    with pytest.raises(CommandError, match="--format preference"):
        call_command("finetune", dataset=export.pk, init_tiny=True, method="dpo", no_progress=True)
    assert not FineTuneRun.objects.exists() and not ModelVersion.objects.exists()


def test_dpo_trains_a_tiny_model_on_the_cpu_and_again_on_top_of_that_run(train_extra, settings, capsys):
    settings.FINETUNE_TINY_VOCAB_SIZE = 512  # a smaller tokenizer and no evaluation pass keep it to seconds
    settings.FINETUNE_EVALUATIONS = 0
    _examples(corrected=8, uncorrected=2)
    export = dataset_export_submit(name="prefs", fmt="preference", wait=True)
    options = {"dataset": export.pk, "method": "dpo", "steps": 3, "max_length": 8192, "no_progress": True}
    call_command("finetune", init_tiny=True, **options)
    run = FineTuneRun.objects.get()
    assert run.status == JobStatus.DONE, run.error
    assert run.method == "dpo" and run.metrics["steps"] == 3
    assert run.metrics["examples"]["train"] == export.train_count
    assert Path(run.outputs["adapter"], "adapter_config.json").is_file()
    assert Path(run.outputs["gguf"]).is_file() and Path(run.outputs["modelfile"]).is_file()
    assert ModelVersion.objects.filter(run=run, kind=ModelVersion.Kind.FINETUNED).exists()

    # DPO on top of an earlier run: its merged model is the base.
    call_command("finetune", base_run=run.pk, **options)
    second = FineTuneRun.objects.exclude(pk=run.pk).get()
    assert second.status == JobStatus.DONE, second.error
    assert second.base_model == run.outputs["merged"]
    assert "Model version:" in capsys.readouterr().out
