"""Progress for long offline work: a tqdm bar on a terminal, a log line every tenth otherwise."""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str, unit: str = "file") -> Iterator[T]:
    from tqdm import tqdm

    bar = tqdm(items, total=total, desc=label, unit=unit, disable=None, leave=False)  # None: tty only
    step = max(1, total // 10)
    for i, item in enumerate(bar, 1):
        yield item
        if bar.disable and (i % step == 0 or i == total):
            log.info("%s: %d/%d", label, i, total)
