"""Dataset exports: versioned, seeded, stratified train/validation files in the formats trainers read.

How an export runs (`dataset_export_run`):
1. Plan. Only (id, category, score) of the selected examples is read, in chunks, into compact per-stratum
   arrays of ids (8 bytes an example). Balancing and the split are decided on those ids alone.
2. Write. The kept ids are read back in id order, a chunk at a time, formatted and streamed to temporary
   files that are hashed as they are written; then every file is renamed into place, the manifest last.
   Memory holds one chunk of full rows at a time, whatever the number of examples.

The split rule (documented for users in the export form and the command's help):
- the validation size is round-half-up(N × (1 − train_share)), at least 1, and at least 2 when two or more
  categories have two or more examples, so that validation can hold more than one category;
- it is shared out between categories in proportion to their size (largest remainder), never taking a
  category's last example: a category with a single example always trains, since a model cannot learn
  from a category it never sees. Every category with two or more examples then gets at least one
  validation example, taken from the category with the most;
- inside a category the same proportional rule shares its validation examples among the score buckets
  (0-3, 3-5, 5-7, 7-9, 9-10), and seeded selection sampling picks which examples.
So 6 + 3 examples at 0.8 give validation 1 + 1; 10 + 1 give validation 2 + 0 (the single example trains).
Every random choice comes from a generator seeded by (seed, purpose, category, bucket): the same rows,
filters and seed give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import random
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Max
from django.utils import timezone

from evaluation.llm.schema import PROMPT_VERSION
from ready4hire.errors import DomainError, InvalidInput

from ..formats import FORMATS
from ..models import DatasetExport, JobStatus, TrainingExample
from ..selectors.examples import SCORE_BUCKETS
from ..selectors.exports import (
    EXPORT_ROW_FIELDS,
    ExportFilters,
    approved_examples_since,
    dataset_export_get,
    dataset_export_last,
    export_examples,
    export_plan_rows,
    export_record,
    score_bucket_index,
)
from .jobs import job_claim

logger = logging.getLogger(__name__)

SEED_RANGE = (-(2**31), 2**31 - 1)  # what the IntegerField column holds on every database
NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
PLAN_PROGRESS = 5  # percent reached once the plan is made; writing fills the rest up to 99


# --- The plan: balancing and the stratified split, on ids only ------------------------------------------


def _apportion(total: int, sizes: list[int], caps: list[int]) -> list[int]:
    """Share `total` out in proportion to `sizes` (largest remainder, ties to the earlier key), each at
    most its cap. Integer arithmetic, so the result never depends on floating-point rounding."""
    whole = sum(sizes)
    total = min(total, sum(caps))
    if total <= 0 or whole == 0:
        return [0] * len(sizes)
    shares = [min(total * size // whole, cap) for size, cap in zip(sizes, caps, strict=True)]
    remainders = [total * size % whole for size in sizes]
    order = sorted(range(len(sizes)), key=lambda index: (-remainders[index], index))
    left = total - sum(shares)
    while left > 0:
        for index in order:
            if left and shares[index] < caps[index]:
                shares[index] += 1
                left -= 1
    return shares


def _select(ids: array, count: int, rng: random.Random) -> tuple[array, array]:
    """Pick exactly `count` of `ids` uniformly (Knuth's selection sampling): (picked, others), both in the
    order of `ids`. One pass, no index list: memory stays at the two output arrays."""
    picked, others = array("q"), array("q")
    needed, remaining = count, len(ids)
    for pk in ids:
        if needed and rng.random() * remaining < needed:
            picked.append(pk)
            needed -= 1
        else:
            others.append(pk)
        remaining -= 1
    return picked, others


def _rng(seed: int, *parts: object) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so it does not depend on PYTHONHASHSEED.
    return random.Random(":".join(str(part) for part in (seed, *parts)))


@dataclass
class ExportPlan:
    """Which examples go to train and to validation (sorted ids), and how many the filters matched."""

    matched: int
    train_ids: array
    val_ids: array

    @property
    def kept(self) -> int:
        return len(self.train_ids) + len(self.val_ids)


def _strata(rows: Iterable[tuple[int, str, float]]) -> tuple[dict[str, list[array]], int]:
    strata: dict[str, list[array]] = {}
    matched = 0
    for pk, category, score in rows:
        buckets = strata.get(category)
        if buckets is None:
            buckets = strata[category] = [array("q") for _ in SCORE_BUCKETS]
        buckets[score_bucket_index(score)].append(pk)
        matched += 1
    return strata, matched


def _balance(strata: dict[str, list[array]], seed: int) -> None:
    """Down-sample every category to the size of the smallest, keeping each one's score distribution."""
    smallest = min(sum(len(bucket) for bucket in buckets) for buckets in strata.values())
    for category, buckets in sorted(strata.items()):
        sizes = [len(bucket) for bucket in buckets]
        for index, keep in enumerate(_apportion(smallest, sizes, sizes)):
            buckets[index], _ = _select(buckets[index], keep, _rng(seed, "balance", category, index))


def _validation_size(total: int, category_sizes: list[int], train_share: float) -> int:
    val_share = 1 - Fraction(repr(train_share))  # exact decimal: 0.9 is 9/10, not 0.900000000000000022
    size = max(math.floor(total * val_share + Fraction(1, 2)), 1)
    if sum(1 for count in category_sizes if count >= 2) >= 2:
        size = max(size, 2)
    return min(size, sum(count - 1 for count in category_sizes))


def export_plan(
    *, rows: Iterable[tuple[int, str, float]], train_share: float, seed: int, balance_categories: bool
) -> ExportPlan:
    """Balance (optionally) and split `rows` of (id, category, score) as the module docstring describes."""
    strata, matched = _strata(rows)
    if not strata:
        raise InvalidInput("No examples to export.", field="filters")
    if balance_categories:
        _balance(strata, seed)
    categories = sorted(strata)
    sizes = [sum(len(bucket) for bucket in strata[category]) for category in categories]
    total = sum(sizes)
    val_size = _validation_size(total, sizes, train_share)
    if val_size < 1:
        raise InvalidInput(
            f"Too few examples to split: {total} example(s), each category with a single one. A validation "
            "set needs a category with at least two examples, so that training still sees every category.",
            field="train_share",
        )
    per_category = _apportion(val_size, sizes, [size - 1 for size in sizes])
    for index in range(len(categories)):
        if sizes[index] >= 2 and per_category[index] == 0:
            donor = max(range(len(categories)), key=lambda other: (per_category[other], -other))
            if per_category[donor] > 1:
                per_category[donor] -= 1
                per_category[index] += 1

    train_parts: list[array] = []
    val_parts: list[array] = []
    for category, val_count in zip(categories, per_category, strict=True):
        buckets = strata.pop(category)
        bucket_sizes = [len(bucket) for bucket in buckets]
        for index, take in enumerate(_apportion(val_count, bucket_sizes, bucket_sizes)):
            picked, others = _select(buckets[index], take, _rng(seed, "split", category, index))
            val_parts.append(picked)
            train_parts.append(others)
            buckets[index] = array("q")  # drop the stratum's copy as soon as it is split
    return ExportPlan(
        matched=matched,
        train_ids=array("q", heapq.merge(*train_parts)),
        val_ids=array("q", heapq.merge(*val_parts)),
    )


# --- Files beside the data: LLaMA-Factory, Axolotl, the training guide ---------------------------------


def _llama_factory_entry(fmt: str, file_name: str) -> dict[str, Any]:
    if fmt == "alpaca":
        # Our `instruction` is the grading system prompt and `input` the user turn: mapped this way,
        # LLaMA-Factory trains on system + user messages, the same two messages the grader is served.
        return {"file_name": file_name, "columns": {"system": "instruction", "prompt": "input", "response": "output"}}
    if fmt == "sharegpt":
        tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {**tags, "system_tag": "system"},
        }
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {**tags, "system_tag": "system"},
    }


def _yaml(value: Any) -> str:
    # JSON strings are valid YAML scalars, and quoting keeps paths with spaces or colons intact.
    return json.dumps(value, ensure_ascii=False)


def _axolotl_dataset(fmt: str, path: Path) -> list[str]:
    lines = [f"  - path: {_yaml(str(path))}", "    ds_type: json", "    split: train"]
    if fmt == "alpaca":
        return [*lines, "    type: alpaca"]
    lines += ["    type: chat_template", f"    field_messages: {'conversations' if fmt == 'sharegpt' else 'messages'}"]
    if fmt == "sharegpt":
        lines += [
            "    message_property_mappings:",
            "      role: from",
            "      content: value",
            "    roles:",
            "      system: [system]",
            "      user: [human]",
            "      assistant: [gpt]",
        ]
    return [*lines, "    roles_to_train: [assistant]"]


def _axolotl_snippet(fmt: str, train: Path, val: Path) -> str:
    header = [
        f"# Axolotl datasets for {train.name} and {val.name} ({fmt} format); paste into your Axolotl config.",
    ]
    if fmt == "alpaca":
        header.append(
            "# type: alpaca uses Axolotl's own Alpaca prompt; export 'messages' to train on the chat template."
        )
    else:
        header.append(f"chat_template: {settings.DATASET_EXPORT_CHAT_TEMPLATE}")
    return (
        "\n".join([*header, "datasets:", *_axolotl_dataset(fmt, train), "test_datasets:", *_axolotl_dataset(fmt, val)])
        + "\n"
    )


_TO_MESSAGES = {
    "alpaca": """def to_messages(row):
    return [
        {"role": "system", "content": row["instruction"]},
        {"role": "user", "content": row["input"]},
        {"role": "assistant", "content": row["output"]},
    ]""",
    "sharegpt": """ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def to_messages(row):
    return [{"role": ROLES[turn["from"]], "content": turn["value"]} for turn in row["conversations"]]""",
    "messages": """def to_messages(row):
    return row["messages"]""",
}


def _training_guide(export: DatasetExport, directory: Path, train: Path, val: Path) -> str:
    base = settings.DATASET_EXPORT_BASE_MODEL
    template = settings.DATASET_EXPORT_CHAT_TEMPLATE
    model = f"{export.name}-ft:v{export.version}"
    work = directory / "work"
    to_messages = _TO_MESSAGES[export.format]
    counts = f"{export.train_count} training and {export.val_count} validation examples"
    return f"""# Training guide: {export.name} v{export.version}

{counts} in the `{export.format}` format, prompt version `{export.prompt_version}`, seed {export.seed}.
Every record carries the live grading prompt, so the model is trained on the text it will be served.

| file | path |
| --- | --- |
| training set | `{train}` |
| validation set | `{val}` |
| manifest (counts, filters, sha256) | `{directory / "manifest.json"}` |
| LLaMA-Factory dataset entries | `{directory / "dataset_info.json"}` |
| Axolotl datasets | `{directory / "axolotl_datasets.yaml"}` |

Base model: `{base}` (setting `DATASET_EXPORT_BASE_MODEL`); chat template `{template}`; the Ollama model
this guide creates: `{model}`. Pick one trainer (Unsloth, TRL, Axolotl or LLaMA-Factory), then convert to
GGUF and create the Ollama model. Work files go to `{work}`.

## Unsloth (one GPU, fastest)

```bash
pip install unsloth
```

```python
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer
from unsloth import FastLanguageModel

{to_messages}


model, tokenizer = FastLanguageModel.from_pretrained(model_name="{base}", max_seq_length=4096, load_in_4bit=True)
model = FastLanguageModel.get_peft_model(
    model,
    r=16,
    lora_alpha=16,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    use_gradient_checkpointing="unsloth",
    random_state={export.seed},
)
data = load_dataset("json", data_files={{"train": "{train}", "validation": "{val}"}})
data = data.map(
    lambda row: {{"text": tokenizer.apply_chat_template(to_messages(row), tokenize=False)}},
    remove_columns=data["train"].column_names,
)
trainer = SFTTrainer(
    model=model,
    processing_class=tokenizer,
    train_dataset=data["train"],
    eval_dataset=data["validation"],
    args=SFTConfig(
        output_dir="{work / "unsloth"}",
        dataset_text_field="text",
        max_length=4096,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=8,
        num_train_epochs=3,
        learning_rate=2e-4,
        eval_strategy="epoch",
        seed={export.seed},
    ),
)
trainer.train()
# Unsloth merges the adapter and writes the GGUF itself: the llama.cpp step below is then not needed.
model.save_pretrained_gguf("{work / "gguf"}", tokenizer, quantization_method="q4_k_m")
```

## TRL + PEFT

```bash
pip install "trl>=0.20" peft datasets transformers accelerate
```

```python
from datasets import load_dataset
from peft import AutoPeftModelForCausalLM, LoraConfig
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

{to_messages}


def to_prompt_completion(row):
    # Prompt and completion apart: TRL then computes the loss on the grade only, not on the prompt.
    messages = to_messages(row)
    return {{"prompt": messages[:-1], "completion": messages[-1:]}}


data = load_dataset("json", data_files={{"train": "{train}", "validation": "{val}"}})
data = data.map(to_prompt_completion, remove_columns=data["train"].column_names)
trainer = SFTTrainer(
    model="{base}",
    train_dataset=data["train"],
    eval_dataset=data["validation"],
    args=SFTConfig(
        output_dir="{work / "trl"}",
        max_length=4096,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=8,
        num_train_epochs=3,
        learning_rate=2e-4,
        eval_strategy="epoch",
        seed={export.seed},
    ),
    peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"),
)
trainer.train()
trainer.save_model("{work / "trl" / "adapter"}")

merged = AutoPeftModelForCausalLM.from_pretrained("{work / "trl" / "adapter"}").merge_and_unload()
merged.save_pretrained("{work / "merged"}")
AutoTokenizer.from_pretrained("{base}").save_pretrained("{work / "merged"}")
```

## Axolotl

```bash
pip install --no-build-isolation "axolotl[flash-attn,deepspeed]"
```

Write `{work / "axolotl.yml"}` with the datasets of `{directory / "axolotl_datasets.yaml"}` and:

```yaml
base_model: {base}
adapter: lora
lora_r: 16
lora_alpha: 32
lora_dropout: 0.05
lora_target_linear: true
sequence_len: 4096
micro_batch_size: 2
gradient_accumulation_steps: 8
num_epochs: 3
learning_rate: 0.0002
val_set_size: 0
seed: {export.seed}
output_dir: {_yaml(str(work / "axolotl"))}
```

```bash
axolotl train {work / "axolotl.yml"}
axolotl merge-lora {work / "axolotl.yml"} --lora-model-dir {work / "axolotl"}
```

The merged model lands in `{work / "axolotl" / "merged"}`: use it as the merged model below.

## LLaMA-Factory

```bash
git clone --depth 1 https://github.com/hiyouga/LLaMA-Factory.git
pip install -e "./LLaMA-Factory[torch,metrics]"
```

`{work / "llamafactory.yaml"}`:

```yaml
model_name_or_path: {base}
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset_dir: {_yaml(str(directory))}
dataset: {export.name}_train
eval_dataset: {export.name}_val
template: {template}
cutoff_len: 4096
per_device_train_batch_size: 2
gradient_accumulation_steps: 8
num_train_epochs: 3.0
learning_rate: 2.0e-4
eval_strategy: epoch
per_device_eval_batch_size: 2
seed: {export.seed}
output_dir: {_yaml(str(work / "llamafactory"))}
```

`{work / "llamafactory_merge.yaml"}`:

```yaml
model_name_or_path: {base}
adapter_name_or_path: {_yaml(str(work / "llamafactory"))}
template: {template}
finetuning_type: lora
export_dir: {_yaml(str(work / "merged"))}
```

```bash
llamafactory-cli train {work / "llamafactory.yaml"}
llamafactory-cli export {work / "llamafactory_merge.yaml"}
```

## GGUF with llama.cpp (after TRL, Axolotl or LLaMA-Factory)

```bash
git clone --depth 1 https://github.com/ggml-org/llama.cpp.git
pip install -r llama.cpp/requirements.txt
python llama.cpp/convert_hf_to_gguf.py {work / "merged"} --outfile {work / f"{export.name}-f16.gguf"} --outtype f16
cmake -S llama.cpp -B llama.cpp/build && cmake --build llama.cpp/build --config Release --target llama-quantize
llama.cpp/build/bin/llama-quantize {work / f"{export.name}-f16.gguf"} {work / f"{export.name}-q4_k_m.gguf"} Q4_K_M
```

## Ollama

The Modelfile carries the grading instructions of prompt version `{export.prompt_version}` as its SYSTEM,
and few-shot pairs from this export:

```bash
python manage.py build_modelfile --from {work / f"{export.name}-q4_k_m.gguf"} --name {model} \\
    --dataset {export.pk} --few-shot 3 -o {work / "Modelfile"}
ollama create {model} -f {work / "Modelfile"}
ollama run {model}
```
"""


# --- Writing ---------------------------------------------------------------------------------------------


class _HashedFile:
    """A temporary file beside its final name, hashed and sized as it is written, renamed in `commit`."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.temporary = final.with_name(f".{final.name}.{os.getpid()}.part")
        self.handle: BinaryIO = self.temporary.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()

    def commit(self) -> None:
        self.close()
        os.replace(self.temporary, self.final)

    def discard(self) -> None:
        self.close()
        self.temporary.unlink(missing_ok=True)

    def entry(self, media_root: Path) -> dict[str, Any]:
        return {
            "path": self.final.relative_to(media_root).as_posix(),
            "size": self.size,
            "sha256": self.digest.hexdigest(),
        }


def _counts() -> dict[str, Counter]:
    return {"by_category": Counter(), "by_difficulty": Counter(), "by_source": Counter(), "by_score_bucket": Counter()}


def _sorted_counts(counts: dict[str, Counter]) -> dict[str, dict[str, int]]:
    return {key: dict(sorted(counter.items())) for key, counter in counts.items()}


def _write_examples(
    *,
    export: DatasetExport,
    plan: ExportPlan,
    train: _HashedFile,
    val: _HashedFile,
    chunk_size: int,
    on_progress: Callable[[int], None],
    written_ids: dict[str, array],
) -> dict[str, dict[str, Counter]]:
    """Stream the planned examples, in id order and `chunk_size` rows at a time, to the two files.

    The ids actually written go to `written_ids` (8 bytes each), so comparisons can find the examples of
    a split again.
    """
    counts = {"train": _counts(), "val": _counts()}
    kept = heapq.merge(plan.train_ids, plan.val_ids)  # lazily: no third copy of the ids
    val_ids, next_val = plan.val_ids, 0
    bucket_names = [name for name, _, _ in SCORE_BUCKETS]
    done = 0
    while ids := list(itertools.islice(kept, chunk_size)):
        # A row deleted since the plan is simply skipped; the counts say what was written.
        for row in TrainingExample.objects.filter(pk__in=ids).order_by("id").values(*EXPORT_ROW_FIELDS):
            while next_val < len(val_ids) and val_ids[next_val] < row["id"]:
                next_val += 1
            is_val = next_val < len(val_ids) and val_ids[next_val] == row["id"]
            split, target = ("val", val) if is_val else ("train", train)
            line = json.dumps(export_record(export.format, row), ensure_ascii=False, separators=(",", ":"))
            target.write((line + "\n").encode("utf-8"))
            written_ids[split].append(row["id"])
            split_counts = counts[split]
            split_counts["by_category"][row["category"]] += 1
            split_counts["by_difficulty"][row["difficulty"]] += 1
            split_counts["by_source"][row["source"]] += 1
            split_counts["by_score_bucket"][bucket_names[score_bucket_index(row["score"])]] += 1
        done += len(ids)
        on_progress(done)
    return counts


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _export(export: DatasetExport) -> None:
    filters = ExportFilters.from_json(export.filters)
    chunk_size = settings.DATASET_EXPORT_CHUNK_SIZE
    plan = export_plan(
        rows=export_plan_rows(filters=filters, chunk_size=chunk_size),
        train_share=export.train_share,
        seed=export.seed,
        balance_categories=export.balance_categories,
    )
    _progress(export, PLAN_PROGRESS)

    media_root = Path(settings.MEDIA_ROOT).resolve()
    directory = media_root / "datasets" / export.name / f"v{export.version}"
    directory.mkdir(parents=True, exist_ok=True)
    train_path = directory / f"{export.name}_train.jsonl"
    val_path = directory / f"{export.name}_val.jsonl"
    files = {"train": _HashedFile(train_path), "val": _HashedFile(val_path)}
    try:
        reported = {"percent": PLAN_PROGRESS}

        def on_progress(done: int) -> None:
            percent = PLAN_PROGRESS + (99 - PLAN_PROGRESS) * done // max(plan.kept, 1)
            if percent > reported["percent"]:
                reported["percent"] = percent
                _progress(export, percent)

        written_ids = {"train": array("q"), "val": array("q")}
        counts = _write_examples(
            export=export,
            plan=plan,
            train=files["train"],
            val=files["val"],
            chunk_size=chunk_size,
            on_progress=on_progress,
            written_ids=written_ids,
        )
        split_counts = {split: _sorted_counts(values) for split, values in counts.items()}
        export.train_count = sum(counts["train"]["by_category"].values())
        export.val_count = sum(counts["val"]["by_category"].values())
        if export.train_count == 0 or export.val_count == 0:
            raise InvalidInput(
                "The examples changed while the export ran and one split came out empty; start the export again.",
                field="filters",
            )
        export.prompt_version = PROMPT_VERSION
        export.counts = {
            "matched": plan.matched,
            "kept": export.train_count + export.val_count,
            "dropped_by_balancing": plan.matched - plan.kept,
            **split_counts,
            "total": {
                key: dict(sorted((counts["train"][key] + counts["val"][key]).items())) for key in counts["train"]
            },
        }

        files["dataset_info"] = _HashedFile(directory / "dataset_info.json")
        files["dataset_info"].write(
            _json_bytes(
                {
                    f"{export.name}_train": _llama_factory_entry(export.format, train_path.name),
                    f"{export.name}_val": _llama_factory_entry(export.format, val_path.name),
                }
            )
        )
        files["axolotl"] = _HashedFile(directory / "axolotl_datasets.yaml")
        files["axolotl"].write(_axolotl_snippet(export.format, train_path, val_path).encode("utf-8"))
        # The JSONL lines are prompts without ids: this file is the link from a split back to its examples
        # (comparisons grade a split's examples against their human labels). Compact: one line per split.
        files["example_ids"] = _HashedFile(directory / "example_ids.json")
        files["example_ids"].write(
            b"{\n"
            + b",\n".join(
                f'"{split}":{json.dumps(ids.tolist(), separators=(",", ":"))}'.encode()
                for split, ids in written_ids.items()
            )
            + b"\n}\n"
        )
        files["guide"] = _HashedFile(directory / "TRAINING_GUIDE.md")
        files["guide"].write(_training_guide(export, directory, train_path, val_path).encode("utf-8"))

        manifest = {
            "name": export.name,
            "version": export.version,
            "format": export.format,
            "prompt_version": export.prompt_version,
            "seed": export.seed,
            "train_share": export.train_share,
            "balance_categories": export.balance_categories,
            "filters": filters.to_json(),
            "train_count": export.train_count,
            "val_count": export.val_count,
            "counts": export.counts,
            "files": {
                key: {"name": file.final.name, "size": file.size, "sha256": file.digest.hexdigest()}
                for key, file in files.items()
            },
        }
        files["manifest"] = _HashedFile(directory / "manifest.json")
        files["manifest"].write(_json_bytes(manifest))
        # The manifest goes into place last: a directory with a manifest is a complete export.
        for file in files.values():
            file.close()
        for file in files.values():
            file.commit()
    except BaseException:
        for file in files.values():
            file.discard()
        with contextlib.suppress(OSError):  # only succeeds when the version directory is empty
            directory.rmdir()
        raise
    export.files = {key: file.entry(media_root) for key, file in files.items()}


def _progress(export: DatasetExport, percent: int) -> None:
    export.progress = percent
    export.save(update_fields=["progress"])


# --- Services ----------------------------------------------------------------------------------------------


def _validate(*, name: str, fmt: str, train_share: float, seed: int) -> None:
    if not NAME_PATTERN.match(name or "") or len(name) > 100:
        raise InvalidInput("name must be 1-100 letters, digits, hyphens or underscores.", field="name")
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format")
    if not 0 < train_share < 1:
        raise InvalidInput(
            f"train_share must be between 0 and 1, both excluded (got {train_share}).", field="train_share"
        )
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise InvalidInput(f"seed must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}.", field="seed")


def _create(**fields: Any) -> DatasetExport:
    """The next version of the name (1, 2, …); concurrent exports of one name each get their own number."""
    for _ in range(5):
        try:
            with transaction.atomic():
                latest = DatasetExport.objects.filter(name=fields["name"]).aggregate(latest=Max("version"))["latest"]
                return DatasetExport.objects.create(version=(latest or 0) + 1, **fields)
        except IntegrityError:
            continue  # another export took this number: read the latest again
    raise RuntimeError(f"could not allocate a version number for {fields['name']!r}")


def dataset_export_submit(
    *,
    name: str = "ready4hire",
    fmt: str = DatasetExport.Format.MESSAGES,
    filters: ExportFilters | None = None,
    train_share: float = 0.8,
    seed: int = 42,
    balance_categories: bool = False,
    requested_by=None,
    requested_by_key=None,
    scheduled: bool = False,
    wait: bool = False,
) -> DatasetExport:
    """Create the next version of export `name` and write it now (`wait`) or on a worker after commit.

    An empty selection is refused here, before any row or file exists.
    """
    _validate(name=name, fmt=fmt, train_share=train_share, seed=seed)
    filters = filters or ExportFilters()
    if not export_examples(filters=filters).exists():
        raise InvalidInput(f"No examples match the filters ({filters.describe()}): nothing to export.", field="filters")
    export = _create(
        name=name,
        format=fmt,
        filters=filters.to_json(),
        train_share=train_share,
        seed=seed,
        balance_categories=balance_categories,
        prompt_version=PROMPT_VERSION,
        requested_by=requested_by,
        requested_by_key=requested_by_key,
        scheduled=scheduled,
    )
    if wait:
        return dataset_export_run(export_id=export.pk)
    from ..tasks.exports import export_dataset_task

    export_dataset_task.delay_on_commit(export.pk)
    return export


def _claim(export_id: int) -> DatasetExport | None:
    """Move a pending (or abandoned running) export to running; None when it is done, failed or taken."""
    claimed = job_claim(
        DatasetExport.objects.filter(pk=export_id),
        stale_after=timedelta(minutes=settings.DATASET_EXPORT_STALE_MINUTES),
        progress=0,
        error="",
    )
    return dataset_export_get(export_id=export_id) if claimed else None


def dataset_export_run(*, export_id: int) -> DatasetExport:
    """Write a submitted export. Safe to call twice: a finished export, or one another worker is writing,
    is returned as it is. A domain failure (nothing left to export, an invalid label) is recorded on the
    row and returned; any other error is recorded and raised."""
    export = _claim(export_id)
    if export is None:
        return dataset_export_get(export_id=export_id)
    try:
        _export(export)
    except (OperationalError, InterfaceError):
        # A database hiccup: hand the export back so the task's retry can claim it again.
        DatasetExport.objects.filter(pk=export_id, status=JobStatus.RUNNING).update(status=JobStatus.PENDING)
        raise
    except DomainError as exc:
        return dataset_export_fail(export_id=export_id, error=str(exc))
    except Exception as exc:
        logger.exception("dataset export %s failed", export_id)
        dataset_export_fail(export_id=export_id, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        export.status = JobStatus.DONE
        export.progress = 100
        export.error = ""
        export.finished_at = timezone.now()
        export.save(
            update_fields=[
                "status",
                "progress",
                "error",
                "finished_at",
                "prompt_version",
                "train_count",
                "val_count",
                "counts",
                "files",
            ]
        )
    return export


def dataset_export_fail(*, export_id: int, error: str) -> DatasetExport:
    """Record that an export failed, with why; its partial files were already removed."""
    export = dataset_export_get(export_id=export_id)
    export.status = JobStatus.FAILED
    export.error = error
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "error", "finished_at"])
    return export


def dataset_export_if_due(
    *, name: str | None = None, fmt: str | None = None, min_new: int | None = None
) -> DatasetExport | None:
    """The periodic export: export `name` when at least `min_new` curated examples were approved since its
    last export (pending, running or done); otherwise do nothing and return None."""
    name = name or settings.DATASET_EXPORT_NAME
    min_new = settings.DATASET_EXPORT_MIN_NEW_EXAMPLES if min_new is None else min_new
    last = dataset_export_last(name=name)
    if last is not None and last.status != JobStatus.DONE:
        return None  # one is already on its way
    filters = ExportFilters()
    new = approved_examples_since(filters=filters, since=last.created_at if last else None)
    if new < max(min_new, 1):
        return None
    return dataset_export_submit(
        name=name, fmt=fmt or settings.DATASET_EXPORT_FORMAT, filters=filters, scheduled=True, wait=True
    )
