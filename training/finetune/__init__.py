"""Fine-tuning: the code that needs the optional `[train]` extra (torch, transformers, peft, trl, gguf).

Nothing here is imported by the rest of the project at start-up: the fine-tune service imports
`training.finetune.pipeline` only when a run executes, after `deps.missing_train_packages()` has said the
extra is installed, so a project without it still starts, and its commands say what to install.
"""
