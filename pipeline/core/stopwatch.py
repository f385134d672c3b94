"""Seconds spent in named parts of a stage, summed over the process: where a stage's time goes
(`train` and `recommend` report `seconds_by_part`; bench/growth.py reads it to put the parts
whose cost grows with items² on a line of their own)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

_SECONDS: defaultdict[str, float] = defaultdict(float)
F = TypeVar("F", bound=Callable[..., Any])
# the part of everything items x items (EASE, ItemKNN, the item-item term: bench/growth.py)
ITEM_ITEM = "item_item"


_OPEN: defaultdict[str, int] = defaultdict(int)  # stopwatches of a part running now


@contextmanager
def stopwatch(part: str) -> Iterator[None]:
    """Counts the time inside towards `part`, once: a timed call inside another of the same
    part (an EASE fit inside the item-item term's fit) is not counted twice."""
    started = time.perf_counter()
    _OPEN[part] += 1
    try:
        yield
    finally:
        _OPEN[part] -= 1
        if not _OPEN[part]:
            _SECONDS[part] += time.perf_counter() - started


def timed(part: str) -> Callable[[F], F]:
    """A decorator: every call of the function counts towards `part`."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with stopwatch(part):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def reset() -> None:
    _SECONDS.clear()


def seconds_by_part() -> dict[str, float]:
    return {part: round(seconds, 2) for part, seconds in sorted(_SECONDS.items())}
