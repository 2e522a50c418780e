"""Dataset exports: files, determinism, the stratified split, balancing, filters, formats and memory."""

from __future__ import annotations

import hashlib
import json
import re
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from evaluation.llm.prompts import build_system_prompt
from ready4hire.errors import InvalidInput
from training.exports.filters import ExportFilters
from training.exports.plan import export_plan
from training.models import DatasetExport, JobStatus, TrainingExample
from training.selectors import dataset_preview
from training.services import dataset_export_if_due, dataset_export_run, dataset_export_submit

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def approved(count: int, **fields) -> list[TrainingExample]:
    return TrainingExampleFactory.create_batch(count, review_status="approved", **fields)


def lines(media_root: Path, export: DatasetExport, file: str) -> list[dict]:
    text = (media_root / export.files[file]["path"]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def split_categories(export: DatasetExport, split: str) -> dict[str, int]:
    return export.counts[split]["by_category"]


def test_export_writes_versioned_files_a_manifest_and_counts(media_root):
    approved(8)
    approved(4, category="soft_skills", difficulty="senior")

    export = dataset_export_submit(name="ready4hire", fmt="alpaca", train_share=0.75, seed=7, wait=True)

    assert export.status == JobStatus.DONE and export.progress == 100 and export.version == 1
    directory = media_root / "datasets" / "ready4hire" / "v1"
    assert sorted(path.name for path in directory.iterdir()) == [
        "TRAINING_GUIDE.md",
        "axolotl_datasets.yaml",
        "dataset_info.json",
        "example_ids.json",
        "manifest.json",
        "ready4hire_train.jsonl",
        "ready4hire_val.jsonl",
    ]
    assert (export.train_count, export.val_count) == (9, 3)
    ids = json.loads((directory / "example_ids.json").read_text())
    assert len(ids["train"]) == 9 and len(ids["val"]) == 3
    assert set(ids["train"]) | set(ids["val"]) <= set(TrainingExample.objects.values_list("id", flat=True))
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["train_count"] == 9 and manifest["val_count"] == 3
    assert manifest["seed"] == 7 and manifest["format"] == "alpaca" and manifest["prompt_version"]
    assert manifest["filters"]["review_statuses"] == ["approved"]
    assert manifest["filters"]["sources"] == ["human", "llm"]
    for key, entry in manifest["files"].items():
        data = (directory / entry["name"]).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest(), key
    # The row knows every file, the manifest included, by its path under MEDIA_ROOT.
    manifest_bytes = (directory / "manifest.json").read_bytes()
    assert export.files["manifest"]["sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert export.files["train"]["path"] == "datasets/ready4hire/v1/ready4hire_train.jsonl"
    assert not [path for path in directory.iterdir() if path.name.endswith(".part")]

    assert dataset_export_submit(name="ready4hire", wait=True).version == 2
    assert dataset_export_submit(name="other", wait=True).version == 1


def test_same_rows_filters_and_seed_give_byte_identical_files(media_root):
    approved(30)
    approved(13, category="soft_skills", score=3.5)
    first = dataset_export_submit(fmt="sharegpt", seed=11, balance_categories=True, wait=True)
    second = dataset_export_submit(fmt="sharegpt", seed=11, balance_categories=True, wait=True)
    other_seed = dataset_export_submit(fmt="sharegpt", seed=12, balance_categories=True, wait=True)

    for file in ("train", "val"):
        assert (media_root / first.files[file]["path"]).read_bytes() == (
            media_root / second.files[file]["path"]
        ).read_bytes()
        assert first.files[file]["sha256"] == second.files[file]["sha256"]
    assert first.files["val"]["sha256"] != other_seed.files["val"]["sha256"]


def plan_categories(plan, categories: dict[int, str]) -> tuple[dict[str, int], dict[str, int]]:
    def count(ids) -> dict[str, int]:
        found: dict[str, int] = {}
        for pk in ids:
            found[categories[pk]] = found.get(categories[pk], 0) + 1
        return found

    return count(plan.train_ids), count(plan.val_ids)


@pytest.mark.parametrize("seed", range(20))
def test_six_plus_three_puts_both_categories_in_validation(seed):
    rows = [(pk, "technical", 6.0) for pk in range(1, 7)] + [(pk, "soft_skills", 6.0) for pk in range(7, 10)]
    plan = export_plan(rows=rows, train_share=0.8, seed=seed, balance_categories=False)
    train, val = plan_categories(plan, {pk: category for pk, category, _ in rows})
    assert val == {"technical": 1, "soft_skills": 1}
    assert train == {"technical": 5, "soft_skills": 2}
    assert list(plan.train_ids) == sorted(plan.train_ids) and list(plan.val_ids) == sorted(plan.val_ids)


@pytest.mark.parametrize("seed", range(20))
def test_ten_plus_one_keeps_the_single_example_in_training(seed):
    rows = [(pk, "technical", 5.0) for pk in range(1, 11)] + [(11, "soft_skills", 5.0)]
    plan = export_plan(rows=rows, train_share=0.8, seed=seed, balance_categories=False)
    train, val = plan_categories(plan, {pk: category for pk, category, _ in rows})
    assert val == {"technical": 2}
    assert train == {"technical": 8, "soft_skills": 1}


def test_small_share_still_validates_on_two_categories():
    rows = [(pk, "technical", 5.0) for pk in range(1, 21)] + [(pk, "soft_skills", 5.0) for pk in range(21, 24)]
    plan = export_plan(rows=rows, train_share=0.99, seed=1, balance_categories=False)
    _, val = plan_categories(plan, {pk: category for pk, category, _ in rows})
    assert val == {"technical": 1, "soft_skills": 1}


def test_split_is_stratified_by_score_bucket():
    rows = [(pk, "technical", 2.0) for pk in range(1, 11)] + [(pk, "technical", 8.0) for pk in range(11, 21)]
    plan = export_plan(rows=rows, train_share=0.8, seed=3, balance_categories=False)
    val = list(plan.val_ids)
    assert len(val) == 4
    assert sum(1 for pk in val if pk <= 10) == 2  # two low scores, two high scores


def test_a_split_needs_a_category_with_two_examples():
    with pytest.raises(InvalidInput, match="Too few examples to split"):
        export_plan(
            rows=[(1, "technical", 5.0), (2, "soft_skills", 5.0)], train_share=0.8, seed=1, balance_categories=False
        )
    with pytest.raises(InvalidInput, match="No examples"):
        export_plan(rows=[], train_share=0.8, seed=1, balance_categories=False)


def test_balancing_down_samples_every_category_to_the_smallest(media_root):
    approved(6, score=2.0)
    approved(6, score=8.0)
    approved(4, category="soft_skills")
    export = dataset_export_submit(balance_categories=True, train_share=0.75, seed=5, wait=True)

    totals = export.counts["total"]["by_category"]
    assert totals == {"soft_skills": 4, "technical": 4}
    assert export.counts["matched"] == 16 and export.counts["dropped_by_balancing"] == 8
    # Technical keeps its score distribution: half low, half high.
    technical = [record for split in ("train", "val") for record in lines(media_root, export, split)]
    scores = [json.loads(record["messages"][2]["content"])["score"] for record in technical]
    assert scores.count(2.0) == 2 and scores.count(8.0) == 2
    assert split_categories(export, "val") == {"soft_skills": 1, "technical": 1}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ExportFilters(), 4),  # approved, human or llm
        (ExportFilters(sources=()), 5),  # + the approved heuristic grade
        (ExportFilters(review_statuses=("approved", "pending")), 5),
        (ExportFilters(min_score=5.0), 3),
        (ExportFilters(categories=("soft_skills",)), 2),
        (ExportFilters(difficulties=("senior",)), 2),
        (ExportFilters(languages=("es",)), 2),
    ],
)
def test_each_filter_narrows_the_selection(filters, expected):
    approved(2, score=6.0)  # technical, mid, en, llm
    approved(1, category="soft_skills", difficulty="senior", language="es", score=2.0, source="human")
    approved(1, category="soft_skills", difficulty="senior", language="es", score=9.0)
    approved(1, source="heuristic")
    TrainingExampleFactory(review_status="pending")
    TrainingExampleFactory(review_status="rejected")

    export = dataset_export_submit(filters=filters, wait=True)
    assert export.counts["matched"] == expected
    assert export.train_count + export.val_count == expected
    assert ExportFilters.from_json(export.filters) == filters


def test_unknown_filter_values_are_refused():
    with pytest.raises(InvalidInput) as error:
        ExportFilters(categories=("cooking",))
    assert error.value.field == "categories"
    with pytest.raises(InvalidInput) as error:
        ExportFilters(min_score=11)
    assert error.value.field == "min_score"


def test_an_empty_selection_is_a_clear_error_and_writes_nothing(media_root):
    TrainingExampleFactory(review_status="pending")
    with pytest.raises(InvalidInput, match="No examples match the filters"):
        dataset_export_submit(wait=True)
    assert not DatasetExport.objects.exists()
    assert not (media_root / "datasets").exists()


def test_examples_gone_before_the_worker_runs_fail_the_row_without_files(media_root):
    approved(5)
    export = dataset_export_submit()  # queued: the worker runs after commit
    TrainingExample.objects.update(review_status="rejected")

    export = dataset_export_run(export_id=export.pk)

    assert export.status == JobStatus.FAILED and "No examples" in export.error and export.finished_at
    assert not any((media_root / "datasets").rglob("*.*"))
    assert dataset_export_run(export_id=export.pk).status == JobStatus.FAILED  # a second run changes nothing


def test_a_finished_export_is_not_written_twice(media_root):
    approved(5)
    export = dataset_export_submit(wait=True)
    (media_root / export.files["train"]["path"]).write_text("tampered")
    again = dataset_export_run(export_id=export.pk)
    assert again.status == JobStatus.DONE
    assert (media_root / export.files["train"]["path"]).read_text() == "tampered"


def test_an_invalid_label_fails_the_export_naming_the_example(media_root):
    examples = approved(4)
    TrainingExample.objects.filter(pk=examples[0].pk).update(label={"score": 5})
    export = dataset_export_submit(wait=True)
    assert export.status == JobStatus.FAILED
    assert f"Training example {examples[0].pk}" in export.error
    assert not any((media_root / "datasets").rglob("*.*"))


def test_bad_parameters_name_the_field():
    approved(3)
    for kwargs, field in (
        ({"fmt": "csv"}, "format"),
        ({"train_share": 1.0}, "train_share"),
        ({"name": "no spaces"}, "name"),
        ({"seed": 2**40}, "seed"),
    ):
        with pytest.raises(InvalidInput) as error:
            dataset_export_submit(wait=True, **kwargs)
        assert error.value.field == field


# --- formats -------------------------------------------------------------------------------------------

EXPECTED_COLUMNS = {
    "alpaca": {"instruction", "input", "output"},
    "sharegpt": {"conversations"},
    "messages": {"messages"},
}


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_each_format_carries_the_live_prompt_and_the_label(media_root, fmt):
    approved(3, language="es", score=7.0)
    approved(2, language="en", score=7.0)
    export = dataset_export_submit(fmt=fmt, wait=True)

    records = lines(media_root, export, "train") + lines(media_root, export, "val")
    assert len(records) == 5
    for record in records:
        assert set(record) == EXPECTED_COLUMNS[fmt]
        if fmt == "alpaca":
            system, user, output = record["instruction"], record["input"], record["output"]
        elif fmt == "sharegpt":
            assert [turn["from"] for turn in record["conversations"]] == ["system", "human", "gpt"]
            system, user, output = (turn["value"] for turn in record["conversations"])
        else:
            assert [message["role"] for message in record["messages"]] == ["system", "user", "assistant"]
            system, user, output = (message["content"] for message in record["messages"])
        assert system in (build_system_prompt("es"), build_system_prompt("en"))
        assert "<candidate_answer>" in user
        assert json.loads(output)["score"] == 7.0


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_llama_factory_and_axolotl_entries_match_the_format(media_root, fmt):
    approved(5)
    export = dataset_export_submit(name="grader", fmt=fmt, wait=True)
    directory = media_root / "datasets" / "grader" / "v1"
    info = json.loads((directory / "dataset_info.json").read_text())
    assert set(info) == {"grader_train", "grader_val"}
    assert info["grader_train"]["file_name"] == "grader_train.jsonl"
    assert info["grader_val"]["file_name"] == "grader_val.jsonl"
    axolotl = (directory / "axolotl_datasets.yaml").read_text()
    assert "datasets:" in axolotl and "test_datasets:" in axolotl
    assert '- path: "grader_train.jsonl"' in axolotl  # relative to the export folder (issue 13)
    entry = info["grader_train"]
    if fmt == "alpaca":
        assert entry["columns"] == {"system": "instruction", "prompt": "input", "response": "output"}
        assert "type: alpaca" in axolotl
    elif fmt == "sharegpt":
        assert entry["formatting"] == "sharegpt" and entry["columns"] == {"messages": "conversations"}
        assert entry["tags"]["role_tag"] == "from" and entry["tags"]["assistant_tag"] == "gpt"
        assert "field_messages: conversations" in axolotl and "role: from" in axolotl
    else:
        assert entry["columns"] == {"messages": "messages"} and entry["tags"]["role_tag"] == "role"
        assert "type: chat_template" in axolotl and "field_messages: messages" in axolotl
    guide = (directory / "TRAINING_GUIDE.md").read_text()
    for needed in (
        '"train": "grader_train.jsonl"',
        '"validation": "grader_val.jsonl"',
        "pip install unsloth",
        "axolotl train",
        "llamafactory-cli train",
        "dataset: grader_train",
        "convert_hf_to_gguf.py",
        "ollama create grader-ft:v1 -f work/Modelfile",
        f"--dataset {export.pk}",
    ):
        assert needed in guide, needed


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_each_format_loads_with_hugging_face_datasets(media_root, tmp_path, fmt):
    datasets = pytest.importorskip(
        "datasets", reason="Hugging Face `datasets` is not installed (it comes with the [train] extra)"
    )
    approved(6)
    export = dataset_export_submit(fmt=fmt, wait=True)
    loaded = datasets.load_dataset(
        "json",
        data_files={split: str(media_root / export.files[split]["path"]) for split in ("train", "val")},
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded["train"].num_rows == export.train_count and loaded["val"].num_rows == export.val_count
    assert set(loaded["train"].column_names) == EXPECTED_COLUMNS[fmt]


def test_preview_formats_the_first_examples_without_writing(media_root):
    approved(5)
    records = dataset_preview(fmt="alpaca", filters=ExportFilters(), limit=2)
    assert len(records) == 2 and set(records[0]) == EXPECTED_COLUMNS["alpaca"]
    assert not (media_root / "datasets").exists()


# --- memory ----------------------------------------------------------------------------------------------


def _bulk_approved(count: int) -> None:
    examples = TrainingExampleFactory.build_batch(count, review_status="approved")
    for index, example in enumerate(examples):
        example.category = ("technical", "soft_skills")[index % 2]
    TrainingExample.objects.bulk_create(examples, batch_size=500)


def _export_peak() -> tuple[int, int]:
    """The export's peak traced memory, and the size of one chunk of its lines (the mean line × the chunk size)."""
    tracemalloc.start()
    try:
        export = dataset_export_submit(wait=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert export.status == JobStatus.DONE
    lines = export.train_count + export.val_count
    size = sum(entry["size"] for key, entry in export.files.items() if key in ("train", "val"))
    return peak, size // lines * django_settings.DATASET_EXPORT_CHUNK_SIZE


def test_streaming_export_memory_does_not_grow_with_the_number_of_examples(settings):
    settings.DATASET_EXPORT_CHUNK_SIZE = 100
    _bulk_approved(50)
    _export_peak()  # warm caches (prompt, pydantic validators) outside the measurement
    TrainingExample.objects.all().delete()

    _bulk_approved(400)
    small, chunk = _export_peak()
    _bulk_approved(1200)  # now 1600: four times as many
    large, _ = _export_peak()

    # Only the ids (8 bytes each) grow; a whole-file approach would grow by ~6 KB an example (~7 MB here).
    # One chunk is written and hashed by a thread while the next is formatted: whether the two overlap at the
    # peak depends on scheduling, so one chunk more than the smaller run is allowed.
    assert large < small * 1.3 + chunk + 64 * 1024, (small, large, chunk)


# --- the periodic export ----------------------------------------------------------------------------------


def test_the_periodic_task_is_installed_for_beat():
    task = PeriodicTask.objects.get(task="training.tasks.exports.export_dataset_if_due_task")
    assert task.enabled and task.interval is not None and task.queue == "exports"


def test_periodic_export_runs_only_when_enough_new_examples_were_approved(settings):
    settings.DATASET_EXPORT_NAME = "nightly"
    approved(2)
    assert dataset_export_if_due(min_new=3) is None
    approved(1)

    export = dataset_export_if_due(min_new=3)
    assert export is not None and export.scheduled and export.status == JobStatus.DONE
    assert export.name == "nightly" and export.format == settings.DATASET_EXPORT_FORMAT
    assert dataset_export_if_due(min_new=3) is None  # nothing new since

    approved(2)
    assert dataset_export_if_due(min_new=3) is None
    approved(1)
    assert dataset_export_if_due(min_new=3).version == 2


def test_periodic_export_waits_for_one_already_on_its_way(settings):
    approved(5)
    dataset_export_submit(name=settings.DATASET_EXPORT_NAME)  # pending: its worker has not started
    assert dataset_export_if_due(min_new=1) is None


def test_a_running_export_is_left_alone_unless_its_worker_died(settings):
    approved(4)
    busy = dataset_export_submit()
    DatasetExport.objects.filter(pk=busy.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    assert dataset_export_run(export_id=busy.pk).status == JobStatus.RUNNING

    abandoned = timezone.now() - timedelta(minutes=settings.DATASET_EXPORT_STALE_MINUTES + 1)
    DatasetExport.objects.filter(pk=busy.pk).update(started_at=abandoned)
    assert dataset_export_run(export_id=busy.pk).status == JobStatus.DONE


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_the_guide_s_code_and_the_axolotl_snippet_parse(media_root, fmt):
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (it comes with the [train] extra)")
    approved(4)
    export = dataset_export_submit(fmt=fmt, wait=True)
    directory = media_root / "datasets" / "ready4hire" / "v1"
    snippet = yaml.safe_load((directory / "axolotl_datasets.yaml").read_text())
    # Relative to the export folder, where the guide says to run the trainers (issue 13).
    assert (directory / snippet["datasets"][0]["path"]) == media_root / export.files["train"]["path"]
    assert (directory / snippet["test_datasets"][0]["path"]) == media_root / export.files["val"]["path"]
    blocks = re.findall(r"```(\w+)\n(.*?)```", (directory / "TRAINING_GUIDE.md").read_text(), re.S)
    assert {language for language, _ in blocks} == {"bash", "python", "yaml"}
    for language, block in blocks:
        if language == "python":
            compile(block, "TRAINING_GUIDE.md", "exec")
        elif language == "yaml":
            assert isinstance(yaml.safe_load(block), dict)
