"""The grade cache key: every input that can change a grade, and nothing else."""

from __future__ import annotations

import hashlib
import json

from .schema import PROMPT_VERSION, GradingRequest


def grading_cache_key(*, request: GradingRequest, model: str, temperature: float) -> str:
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
        "prompt_version": PROMPT_VERSION,
        "temperature": round(float(temperature), 4),
    }
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
