"""The tiny path end to end on the CPU, as `manage.py finetune --init-tiny` runs it: train → merge → GGUF →
llama.cpp loads it and tokenizes exactly like the Hugging Face tokenizer → both the random-initialised base
and the fine-tuned model are served by llama.cpp and grade held-out rows through our OpenAI-compatible
client, then in this process through the local backend. The fine-tuned model must beat its base on
valid-JSON rate and on mean absolute error either way."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from evaluation.llm.clients import LLMError, OpenAICompatibleClient
from evaluation.llm.parsing import OutputError, parse_grade
from evaluation.llm.schema import grade_json_schema
from training.finetune.data import read_conversations
from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.metrics import mean_absolute_error, spearman
from training.models import FineTuneRun, JobStatus, ModelVersion
from training.selectors.exports import dataset_export_file_path

from ..conftest import service_missing

# The command trains in a worker thread, which must see the rows this test commits.
pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 500
HELD_OUT = 24
NUM_PREDICT = 512


@pytest.fixture
def extras(media_root) -> None:
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")


def _grade_all(gguf_path: str, conversations: list[list[dict[str, str]]]) -> tuple[list[float | None], list[float]]:
    """Grade each held-out conversation with the model served by llama.cpp; None where the output is no grade."""
    from training.services.serving import serve_gguf

    scores: list[float | None] = []
    with (
        serve_gguf(gguf_path) as served,
        OpenAICompatibleClient(base_url=served.base_url, model=served.model, timeout=120, max_retries=0) as client,
    ):
        for conversation in conversations:
            try:
                result = client.chat(
                    conversation[:-1], schema=grade_json_schema(), temperature=0.0, num_predict=NUM_PREDICT, seed=7
                )
                scores.append(parse_grade(result.content).score)
            except (LLMError, OutputError):
                scores.append(None)
    return scores, [json.loads(conversation[-1]["content"])["score"] for conversation in conversations]


def _agreement(scores: list[float | None], human: list[float]) -> dict[str, float]:
    """Valid-JSON rate, and MAE counting a miss as the end of the scale farthest from the human score (as
    the comparisons do); Spearman over the valid grades."""
    filled = [s if s is not None else (0.0 if h >= 5 else 10.0) for s, h in zip(scores, human, strict=True)]
    valid = [(s, h) for s, h in zip(scores, human, strict=True) if s is not None]
    return {
        "valid_json_rate": len(valid) / len(scores),
        "mae": mean_absolute_error(filled, human),
        "spearman": spearman([s for s, _ in valid], [h for _, h in valid]) if len(valid) > 2 else float("nan"),
    }


def test_tiny_fine_tune_beats_its_random_base_through_llama_cpp(extras, capsys):
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    export = synthetic_export_create(examples=synthetic_examples(seed=0, subsets=8), val_count=HELD_OUT)
    out = io.StringIO()

    call_command(
        "finetune", "--dataset", str(export.pk), "--init-tiny", "--steps", str(STEPS), "--no-progress", stdout=out
    )

    run = FineTuneRun.objects.get()
    assert (run.status, run.method, run.progress, run.step, run.max_steps) == (
        JobStatus.DONE,
        "full",
        100,
        STEPS,
        STEPS,
    )
    losses = [point["loss"] for point in run.metrics["train_loss"]]
    assert len(losses) >= 10 and losses[-1] < losses[0] / 2
    assert run.metrics["eval_loss"] and run.metrics["eval_loss"][-1]["loss"] < run.metrics["eval_loss"][0]["loss"]
    assert f"step {STEPS}/{STEPS}" in run.log and "registered" in run.log
    base = ModelVersion.objects.get(kind=ModelVersion.Kind.BASE)
    tuned = ModelVersion.objects.get(kind=ModelVersion.Kind.FINETUNED)
    assert (base.name, tuned.name, base.run, tuned.run) == ("ready4hire-tiny-base", "ready4hire", run, run)
    assert tuned.gguf_path == run.outputs["gguf"] and Path(tuned.gguf_path).is_file()
    printed = out.getvalue()
    assert f"{tuned.reference} (GGUF {tuned.gguf_path})" in printed and base.reference in printed

    held_out = read_conversations(dataset_export_file_path(export=export, file="val"), export.format)
    tokenizer = AutoTokenizer.from_pretrained(run.outputs["merged"])
    vocab = Llama(tuned.gguf_path, vocab_only=True, verbose=False)
    try:
        for conversation in held_out[:4]:
            text = tokenizer.apply_chat_template(conversation, tokenize=False)
            assert vocab.tokenize(text.encode(), add_bos=False, special=True) == tokenizer(text)["input_ids"]
    finally:
        vocab.close()

    base_scores, human = _grade_all(base.gguf_path, held_out)
    tuned_scores, _ = _grade_all(tuned.gguf_path, held_out)
    before, after = _agreement(base_scores, human), _agreement(tuned_scores, human)
    with capsys.disabled():
        print(f"\ntiny base:       {before}\ntiny fine-tuned: {after}\n({run.metrics['tokens_per_second']} tokens/s)")

    # The random base never closes its strings within the token budget, so its every grade is a miss. The
    # tiny model's share of valid grades depends on the steps and the seed (25% after 400 steps with this
    # seed, 100% after 500 or 800, on this machine's CPU): the bar here is the base, as the issue sets it.
    assert after["valid_json_rate"] > before["valid_json_rate"]
    assert after["mae"] < before["mae"]

    # The same checkpoints in this process (the `local` backend, no llama.cpp): same prompt, schema, parsing.
    local_before = _agreement(_grade_locally(run.outputs["base_dir"], held_out), human)
    local_after = _agreement(_grade_locally(run.outputs["merged"], held_out), human)
    with capsys.disabled():
        print(f"in-process base:       {local_before}\nin-process fine-tuned: {local_after}")
    assert local_after["valid_json_rate"] > local_before["valid_json_rate"]
    assert local_after["mae"] < local_before["mae"]


def _grade_locally(checkpoint: str, conversations: list[list[dict[str, str]]]) -> list[float | None]:
    from evaluation.llm.local import LocalTransformersClient

    replies = LocalTransformersClient(base_url=checkpoint, model="tiny").chat_many(
        [conversation[:-1] for conversation in conversations],
        schema=grade_json_schema(),
        temperature=0.0,
        num_predict=384,
        seed=7,
    )
    scores: list[float | None] = []
    for reply in replies:
        try:
            scores.append(parse_grade(reply.content).score)
        except OutputError:
            scores.append(None)
    return scores
