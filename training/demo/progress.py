"""The demo's progress bars: one tqdm bar per long step (grading, fine-tune steps, comparison), with the rate
and the time left, written to the command's stderr so the step's results on stdout stay readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

Progress = Callable[[int, int], None]  # (done, total)

BAR_FORMAT = "   {desc}: {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt} {unit} [{elapsed} elapsed, {remaining} left]"


class _Stream:
    """A management command's OutputWrapper as a plain stream: tqdm writes carriage returns, no new lines."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self.out.flush()


@contextmanager
def progress_bar(description: str, unit: str, *, out: Any, enabled: bool = True) -> Iterator[Progress]:
    """Yields `update(done, total)`. The bar appears at the first update, so its clock starts with the work,
    and closes when done reaches the total, so the next step's bar starts on a line of its own."""
    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                desc=description,
                unit=unit,
                total=total,
                file=_Stream(out),
                disable=not enabled,
                bar_format=BAR_FORMAT,
                mininterval=0.5,
                ncols=100,
            )
        if bar.disable:
            return
        bar.total = total
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
