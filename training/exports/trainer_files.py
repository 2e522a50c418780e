"""The files an export writes beside its data for the trainers: LLaMA-Factory's dataset entries, Axolotl's
datasets snippet, and TRAINING_GUIDE.md (rendered from templates/training/exports/training_guide.md).

Every path inside them is relative to the export's folder: the folder is copied to a GPU machine and used
from there, where the exporting machine's MEDIA_ROOT means nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from ..models import DatasetExport

# Preference files are TRL's conversational shape (chosen / rejected as message lists), which neither
# LLaMA-Factory's nor Axolotl's preference loaders read as they are: the files say so and point to TRL.
_PREFERENCE_NOTE = (
    "TRL's conversational preference format (prompt, chosen, rejected as message lists): train with "
    "`manage.py finetune --method dpo` or TRL's DPOTrainer."
)


def _llama_factory_entry(fmt: str, file_name: str) -> dict[str, Any]:
    if fmt == "preference":
        return {"file_name": file_name, "ranking": True, "note": _PREFERENCE_NOTE}
    if fmt == "alpaca":
        # Our `instruction` is the grading system prompt and `input` the user turn: mapped this way,
        # LLaMA-Factory trains on system + user messages, the same two messages the grader is served.
        return {"file_name": file_name, "columns": {"system": "instruction", "prompt": "input", "response": "output"}}
    # Both chat formats are LLaMA-Factory's "sharegpt" formatting; only the field and role names differ.
    messages, role, content, user, assistant = (
        ("conversations", "from", "value", "human", "gpt")
        if fmt == "sharegpt"
        else ("messages", "role", "content", "user", "assistant")
    )
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": messages},
        "tags": {
            "role_tag": role,
            "content_tag": content,
            "user_tag": user,
            "assistant_tag": assistant,
            "system_tag": "system",
        },
    }


def llama_factory_dataset_info(export: DatasetExport, train: Path, val: Path) -> dict[str, Any]:
    """dataset_info.json: LLaMA-Factory's entries for the two splits, named `<name>_train` and `<name>_val`."""
    return {
        f"{export.name}_train": _llama_factory_entry(export.format, train.name),
        f"{export.name}_val": _llama_factory_entry(export.format, val.name),
    }


def _yaml(value: Any) -> str:
    # JSON strings are valid YAML scalars, and quoting keeps paths with spaces or colons intact.
    return json.dumps(value, ensure_ascii=False)


def _axolotl_dataset(fmt: str, path: Path) -> list[str]:
    lines = [f"  - path: {_yaml(path.name)}", "    ds_type: json", "    split: train"]
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


def axolotl_snippet(fmt: str, train: Path, val: Path) -> str:
    """axolotl_datasets.yaml: the `datasets` and `test_datasets` of an Axolotl config for the two splits."""
    header = [
        f"# Axolotl datasets for {train.name} and {val.name} ({fmt} format); paste into your Axolotl config.",
        "# The paths are relative to the export folder: run axolotl from inside it.",
    ]
    if fmt == "preference":
        return "\n".join([*header, f"# {_PREFERENCE_NOTE}", f"# train: {train.name}", f"# val: {val.name}"]) + "\n"
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


# The guide's Python snippets read records of any format as chat messages, through this helper.
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
    # Supervised trainers learn the chosen (human) grade of a preference pair.
    "preference": """def to_messages(row):
    return row["prompt"] + row["chosen"]""",
}


def training_guide(export: DatasetExport, directory: Path, train: Path, val: Path) -> str:
    """TRAINING_GUIDE.md: every trainer's steps with this export's paths (relative to `directory`, where the
    guide tells the reader to run everything from), seed and base model filled in."""
    work = Path("work")
    paths = {
        "train": Path(train.name),
        "val": Path(val.name),
        "manifest": Path("manifest.json"),
        "dataset_info": Path("dataset_info.json"),
        "axolotl_datasets": Path("axolotl_datasets.yaml"),
        "work": work,
        "unsloth": work / "unsloth",
        "unsloth_gguf": work / "gguf",
        "trl": work / "trl",
        "trl_adapter": work / "trl" / "adapter",
        "merged": work / "merged",
        "axolotl_config": work / "axolotl.yml",
        "axolotl": work / "axolotl",
        "axolotl_merged": work / "axolotl" / "merged",
        "llamafactory_config": work / "llamafactory.yaml",
        "llamafactory_merge_config": work / "llamafactory_merge.yaml",
        "gguf_f16": work / f"{export.name}-f16.gguf",
        "gguf_q4_k_m": work / f"{export.name}-q4_k_m.gguf",
        "modelfile": work / "Modelfile",
    }
    # YAML values are quoted (see `_yaml`); the Python and bash lines take the paths as they are.
    yaml_paths = {
        "directory": Path("."),
        "axolotl": paths["axolotl"],
        "llamafactory": work / "llamafactory",
        "merged": paths["merged"],
    }
    return render_to_string(
        "training/exports/training_guide.md",
        {
            "export": export,
            "folder": directory.name,
            "base_model": settings.DATASET_EXPORT_BASE_MODEL,
            "chat_template": settings.DATASET_EXPORT_CHAT_TEMPLATE,
            "model": f"{export.name}-ft:v{export.version}",
            "to_messages": _TO_MESSAGES[export.format],
            "paths": paths,
            "yaml": {key: _yaml(str(path)) for key, path in yaml_paths.items()},
        },
    )
