"""What a run trained on and how fast (issue 15): device, GPU, precision, tokens per second and peak memory,
filled in by a real tiny run on the CPU and shown by the command, the API and the admin."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.models import FineTuneRun, JobStatus

from ..conftest import service_missing

# The command trains in a worker thread, which must see the rows this test commits.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


@pytest.fixture
def export(settings):
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    examples = [example for example in synthetic_examples(subsets=0) if example[0].language == "en"]
    # Two training examples of different lengths, one batch of both: padding is added to the shorter one.
    first, second = examples[0], next(e for e in examples[1:] if len(e[0].answer) != len(examples[0][0].answer))
    return synthetic_export_create(examples=[examples[5], first, second], val_count=1)


def test_a_tiny_cpu_run_records_its_device_speed_and_memory(export, admin_client, api_client):
    out = io.StringIO()

    call_command(
        "finetune",
        *("--dataset", str(export.pk), "--init-tiny", "--steps", "1", "--batch-size", "2", "--max-length", "4096"),
        "--no-progress",
        stdout=out,
    )

    run = FineTuneRun.objects.get()
    assert run.status == JobStatus.DONE, run.error
    assert (run.device, run.gpu_name, run.precision) == ("cpu", "", "fp32")
    assert run.metrics["processes"] == 1 and run.metrics["peak_memory_measure"] == "process peak RSS"
    assert run.peak_memory_mb > 100  # torch and a model in memory: far above an empty interpreter

    # Tokens per second counts the tokens trained on, not the padding of the shorter example in the batch.
    from transformers import AutoTokenizer

    from training.finetune.data import read_conversations
    from training.finetune.trainer import prompt_completion
    from training.selectors.exports import dataset_export_file_path

    tokenizer = AutoTokenizer.from_pretrained(run.outputs["base_dir"])
    records = [
        prompt_completion(tokenizer, conversation)
        for conversation in read_conversations(dataset_export_file_path(export=export, file="train"), export.format)
    ]
    lengths = [len(tokenizer(r["prompt"] + r["completion"], add_special_tokens=False)["input_ids"]) for r in records]
    assert len(lengths) == 2 and lengths[0] != lengths[1]
    assert run.metrics["train_tokens"] == sum(lengths) < 2 * max(lengths)
    assert run.tokens_per_second == pytest.approx(sum(lengths) / run.metrics["train_seconds"], rel=0.01)

    printed = out.getvalue()
    assert f"{run.tokens_per_second} tokens/s" in printed
    assert "Trained on:         cpu, fp32\n" in printed
    assert f"Peak memory:        {run.peak_memory_mb:.0f} MB (process peak RSS)" in printed

    detail = api_client.get(f"/api/v1/finetune-runs/{run.pk}").json()
    assert (detail["device"], detail["gpu_name"], detail["precision"]) == ("cpu", "", "fp32")
    assert (detail["tokens_per_second"], detail["peak_memory_mb"]) == (run.tokens_per_second, run.peak_memory_mb)
    listed = api_client.get("/api/v1/finetune-runs").json()["items"][0]
    assert listed["tokens_per_second"] == run.tokens_per_second

    listing = admin_client.get(reverse("admin:training_finetunerun_changelist")).content.decode()
    assert "cpu fp32" in listing and f"{run.tokens_per_second:,.0f}" in listing
    page = admin_client.get(reverse("admin:training_finetunerun_change", args=[run.pk])).content.decode()
    assert "Hardware and speed" in page
    assert f"{run.peak_memory_mb:,.0f} MB (process peak RSS)" in page


def test_the_device_is_on_the_row_while_it_trains(export, monkeypatch):
    """Device and precision are written when training starts, before the run ends (the admin shows them
    on a long run); here read back from inside the run, at its first progress write."""
    from training.services import finetune as service

    seen: list[tuple[str, str]] = []
    writer = service._progress_writer

    def watching(claim, log):
        report = writer(claim, log)

        def both(progress):
            report(progress)
            row = FineTuneRun.objects.get(pk=claim.row.pk)
            seen.append((row.status, row.device, row.precision))

        return both

    monkeypatch.setattr(service, "_progress_writer", watching)
    call_command(
        "finetune",
        *("--dataset", str(export.pk), "--init-tiny", "--steps", "1", "--max-length", "4096", "--no-progress"),
        stdout=io.StringIO(),
    )

    assert seen[0] == (JobStatus.RUNNING, "cpu", "fp32")
    assert FineTuneRun.objects.get().metrics["device"] == "cpu"
