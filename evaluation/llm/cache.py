"""The grade cache key: every input that can change a grade, and nothing else."""

from __future__ import annotations

import hashlib
import json

from ..choices import PromptVariant
from .prompts import prompt_version_for
from .schema import GradingRequest


def grading_cache_key(
    *, request: GradingRequest, model: str, temperature: float, prompt_variant: str = PromptVariant.FULL
) -> str:
    """The key of a grade: a compact-prompt grade is another request than a full-prompt one, so the variant is
    in the prompt version (the full prompt's, and so every key made before variants, is unchanged)."""
    payload = {
        "question": request.question,
        "answer": request.answer,
        "expected_concepts": list(request.expected_concepts),
        "keywords": list(request.keywords),
        "role": request.role,
        "category": request.category,
        "difficulty": request.difficulty,
        "language": request.language,
        "model": model,
        "prompt_version": prompt_version_for(prompt_variant),
        "temperature": round(float(temperature), 4),
    }
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
