"""Concurrent version allocation on PostgreSQL: racing exports of one name each get their own number."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from training.models import DatasetExport
from training.services.numbering import version_number_next

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 8


def test_racing_allocations_get_distinct_numbers(postgres):
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(WORKERS)

    def allocate(_: int) -> int:
        try:
            barrier.wait(timeout=10)  # every thread makes the first allocation of the name at once
            return version_number_next(model=DatasetExport, name="race")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(WORKERS) as pool:
        numbers = list(pool.map(allocate, range(WORKERS)))  # an error in a thread is raised here
    assert sorted(numbers) == list(range(1, WORKERS + 1))
