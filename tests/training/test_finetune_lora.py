"""LoRA plumbing on a tiny model, through the whole pipeline: wrap, train, save the adapter, merge it into
the base, write GGUF and a Modelfile. On random weights this proves the mechanics, not quality: the merged
model must compute what the base plus the saved adapter computes."""

from __future__ import annotations

import json

import pytest

from evaluation.llm.prompts import build_system_prompt
from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples
from training.formats import format_example
from training.modelfile import parse

from ..conftest import service_missing


@pytest.fixture(scope="module")
def train_extra() -> None:
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")


def test_lora_adapter_is_saved_merged_and_converted(train_extra, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.finetune.pipeline import FineTuneJob, run_finetune
    from training.finetune.tiny import TinyShape
    from training.finetune.trainer import TrainSettings

    examples = [example for example in synthetic_examples(subsets=0) if example[0].language == "en"][:16]
    train_file = tmp_path / "train.jsonl"  # sharegpt on purpose: training converts it to messages in memory
    train_file.write_text(
        "".join(json.dumps(format_example("sharegpt", request=r, label=g)) + "\n" for r, g in examples)
    )
    settings = TrainSettings(
        method="lora",
        max_steps=4,
        learning_rate=5e-2,
        lora_r=4,
        lora_alpha=8,
        target_modules=("q_proj", "v_proj"),
        max_length=4096,
        evaluations=0,
    )
    reports, lines = [], []
    job = FineTuneJob(
        train_path=train_file,
        val_path=None,
        fmt="sharegpt",
        output_dir=tmp_path / "run",
        init_tiny=True,
        tiny_shape=TinyShape(vocab_size=512),
        gguf_dtype="f32",
    )

    result = run_finetune(job, settings, report=reports.append, log=lines.append)

    out = tmp_path / "run"
    assert result.outputs["adapter"] == str(out / "adapter") and (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged" / "model.safetensors").is_file() and (out / "model.gguf").is_file()
    assert (out / "base.gguf").is_file() and result.outputs["base_gguf"] == str(out / "base.gguf")
    parameters = result.metrics["parameters"]
    assert 0 < parameters["trainable"] < parameters["total"] / 10  # only the adapter trained
    assert result.metrics["steps"] == 4 and reports[-1].step == 4 and reports[-1].max_steps == 4
    assert any("step 4/4" in line for line in lines)

    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Grade: a B-tree avoids full scans."}],
        add_generation_prompt=True,
        return_dict=True,
    )["input_ids"]
    inputs = torch.tensor([ids])
    with torch.no_grad():
        base_logits = AutoModelForCausalLM.from_pretrained(out / "base")(inputs).logits
        adapter_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(out / "base"), out / "adapter")
        adapter_logits = adapter_model(inputs).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(out / "merged")(inputs).logits
    assert (adapter_logits - base_logits).abs().max() > 1e-3  # the adapter learnt something
    assert torch.allclose(merged_logits, adapter_logits, atol=1e-4)

    modelfile = parse((out / "Modelfile").read_text())
    assert modelfile.from_ == "./model.gguf"
    assert modelfile.system == build_system_prompt("en")
    assert modelfile.parameter_dict()["stop"] == ["<|im_end|>", "<|im_start|>"]
    assert "<|im_start|>assistant" in (modelfile.template or "")
