"""`--backend unsloth` plumbing on the CPU: a run loads its base through Unsloth's `FastLanguageModel` with
the run's settings (max_length, 4 bits for QLoRA, LoRA rank, alpha, dropout, target modules), trains with the
shared SFT code, merges with Unsloth's `save_pretrained_merged`, and records the backend.

Unsloth itself needs a CUDA GPU, so here a stand-in `unsloth` package (written to the test's folder) records
each call and delegates to transformers and PEFT on a tiny model. It fakes a third-party library, not our
code; the real Unsloth path has not been run on a GPU in this project's CI.
"""

from __future__ import annotations

import json
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.models import FineTuneRun, JobStatus

from ..conftest import service_missing

pytestmark = pytest.mark.django_db

FAKE_UNSLOTH = textwrap.dedent(
    '''
    """A CPU stand-in for Unsloth (tests only): records each call, delegates to transformers and PEFT."""
    import types

    CALLS = []


    class FastLanguageModel:
        @staticmethod
        def from_pretrained(model_name, max_seq_length=2048, dtype=None, load_in_4bit=False, **kwargs):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            CALLS.append(("from_pretrained", dict(model_name=model_name, max_seq_length=max_seq_length,
                                                  dtype=dtype, load_in_4bit=load_in_4bit, **kwargs)))
            return AutoModelForCausalLM.from_pretrained(model_name), AutoTokenizer.from_pretrained(model_name)

        @staticmethod
        def get_peft_model(model, r=16, target_modules=None, lora_alpha=16, lora_dropout=0.0, bias="none",
                           use_gradient_checkpointing="unsloth", random_state=3407, **kwargs):
            from peft import LoraConfig, get_peft_model

            CALLS.append(("get_peft_model", dict(r=r, target_modules=target_modules, lora_alpha=lora_alpha,
                                                 lora_dropout=lora_dropout, bias=bias,
                                                 use_gradient_checkpointing=use_gradient_checkpointing,
                                                 random_state=random_state, **kwargs)))
            config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                                target_modules=target_modules, bias=bias, task_type="CAUSAL_LM")
            wrapped = get_peft_model(model, config)
            wrapped.save_pretrained_merged = types.MethodType(_save_pretrained_merged, wrapped)
            return wrapped


    def _save_pretrained_merged(self, save_directory, tokenizer=None, save_method="merged_16bit", **kwargs):
        CALLS.append(("save_pretrained_merged", dict(save_directory=save_directory, save_method=save_method)))
        self.merge_and_unload().save_pretrained(save_directory)
        tokenizer.save_pretrained(save_directory)
    '''
)


@pytest.fixture
def train_extra() -> None:
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")


@pytest.fixture
def fake_unsloth(train_extra, tmp_path, monkeypatch):
    """The stand-in `unsloth` package on sys.path (forgotten again after the test); its calls list."""
    if "unsloth" not in sys.modules:
        import importlib.util

        if importlib.util.find_spec("unsloth") is not None:
            pytest.skip("the real unsloth package is installed: this test would shadow it")
    package = tmp_path / "fake_site" / "unsloth"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_UNSLOTH, encoding="utf-8")
    monkeypatch.delitem(sys.modules, "unsloth", raising=False)  # removed again when the test ends
    monkeypatch.syspath_prepend(str(package.parent))

    def calls() -> dict[str, list[dict]]:
        recorded: dict[str, list[dict]] = {}
        for name, arguments in sys.modules["unsloth"].CALLS:
            recorded.setdefault(name, []).append(arguments)
        return recorded

    return calls


@contextmanager
def cuda_claimed():
    """As on a CUDA machine, for the checks that run when a run is created; training itself stays on the CPU."""
    import torch

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: True)
        yield


@pytest.mark.parametrize(("method", "checkpointing"), [("lora", False), ("qlora", True)])
def test_an_unsloth_run_loads_wraps_and_merges_through_unsloth_with_its_settings(
    fake_unsloth, media_root, settings, method, checkpointing
):
    from training.services.finetune import finetune_run_create, finetune_run_execute

    settings.FINETUNE_TINY_VOCAB_SIZE = 512  # two steps on a model this small: the wiring, not the learning
    settings.FINETUNE_EVALUATIONS = 0
    export = synthetic_export_create(examples=synthetic_examples(subsets=0)[:8], val_count=1)
    with cuda_claimed():
        run = finetune_run_create(
            dataset_export_id=export.pk,
            init_tiny=True,
            method=method,
            backend="unsloth",
            hyperparameters={
                "max_steps": 2,
                "max_length": 3000,
                "lora_r": 4,
                "lora_alpha": 8,
                "lora_dropout": 0.1,
                "target_modules": "q_proj,k_proj",
                "gradient_checkpointing": checkpointing,
            },
        )

    run = finetune_run_execute(run_id=run.pk)

    assert run.status == JobStatus.DONE, run.error
    out = Path(run.output_dir)
    calls = fake_unsloth()
    assert calls["from_pretrained"] == [
        {"model_name": str(out / "base"), "max_seq_length": 3000, "dtype": None, "load_in_4bit": method == "qlora"}
    ]
    assert calls["get_peft_model"] == [
        {
            "r": 4,
            "target_modules": ["q_proj", "k_proj"],
            "lora_alpha": 8,
            "lora_dropout": 0.1,
            "bias": "none",
            "use_gradient_checkpointing": "unsloth" if checkpointing else False,
            "random_state": run.hyperparameters["seed"],
        }
    ]
    assert calls["save_pretrained_merged"] == [{"save_directory": str(out / "merged"), "save_method": "merged_16bit"}]
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["k_proj", "q_proj"]
    assert (out / "merged" / "model.safetensors").is_file() and Path(run.outputs["gguf"]).is_file()
    assert run.backend == "unsloth" and run.metrics["backend"] == "unsloth" and run.metrics["steps"] == 2
    assert f"method {method}, backend unsloth" in run.log


def test_the_run_log_says_when_unsloth_came_after_the_libraries_it_patches(fake_unsloth):
    import transformers  # noqa: F401

    from training.finetune.unsloth import import_unsloth

    lines: list[str] = []
    import_unsloth(lines.append)

    assert "unsloth" in sys.modules
    assert len(lines) == 1 and "imported after transformers" in lines[0]


def test_full_fine_tuning_with_unsloth_is_refused_before_any_run(fake_unsloth, api_client, media_root):
    export = synthetic_export_create(examples=synthetic_examples(subsets=0)[:4], val_count=1)

    with cuda_claimed():
        response = api_client.post(
            "/api/v1/finetune-runs",
            {"dataset_export_id": export.pk, "init_tiny": True, "method": "full", "backend": "unsloth"},
            content_type="application/json",
        )

    assert response.status_code == 422
    assert response.json()["field"] == "method"
    assert "Unsloth backend trains lora and qlora here, not full" in response.json()["detail"]
    assert not FineTuneRun.objects.exists()


def test_a_stored_dpo_run_with_unsloth_fails_before_loading_anything(fake_unsloth, tmp_path):
    from training.finetune.errors import TrainingError
    from training.finetune.pipeline import FineTuneJob, run_finetune
    from training.finetune.trainer import TrainSettings

    job = FineTuneJob(train_path=tmp_path / "pairs.jsonl", val_path=None, fmt="preference", output_dir=tmp_path)

    with pytest.raises(TrainingError, match="not dpo: use --backend trl"):
        run_finetune(job, TrainSettings(method="dpo", backend="unsloth"), report=print, log=print)
    assert "unsloth" not in sys.modules
