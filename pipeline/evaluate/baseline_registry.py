"""Every baseline a night scores beside the model, registered in one place.

An entry names the baseline, the function that scores it on the exam (`baseline_exam.py`: every
key it logs, `baseline_<name>_<metric>` and its tuned parameters), the names its keys use (a
variant such as `ease_recent` logs under its own), the tuned parameters a warm night reuses from
its parent run, when a night of some size leaves it out, and whether it is a yardstick for new
items only. The gate, the quality report, the trends and warm nights all read this registry:
adding a baseline is one `register` call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.evaluate import baseline_exam as exam_of
from pipeline.evaluate import baselines
from pipeline.evaluate.baseline_exam import BaselineNight
from pipeline.evaluate.exam import Exam
from pipeline.evaluate.split import Split
from pipeline.learn.algorithms import ease
from pipeline.learn.data.snapshot import Snapshot

log = logging.getLogger(__name__)

Skip = Callable[[Snapshot], str | None]  # why a night of this size leaves it out, or None


@dataclass(frozen=True)
class Baseline:
    name: str
    score: Callable[[BaselineNight], dict[str, float]]
    logs_as: tuple[str, ...] = ()  # the names its keys use (default: its own)
    warm_params: tuple[str, ...] = ()  # logged keys a warm night takes from its parent run
    skip: Skip | None = None
    new_items_only: bool = False  # a yardstick for new items: never "the best baseline"

    @property
    def names(self) -> tuple[str, ...]:
        return self.logs_as or (self.name,)


REGISTRY: dict[str, Baseline] = {}


def register(baseline: Baseline) -> Baseline:
    """Add (or replace) a baseline; it runs every night from then on."""
    REGISTRY[baseline.name] = baseline
    return baseline


def baseline_names() -> tuple[str, ...]:
    """Every name a baseline logs under, in registration order."""
    return tuple(dict.fromkeys(n for b in REGISTRY.values() for n in b.names))


def new_item_yardsticks() -> frozenset[str]:
    return frozenset(n for b in REGISTRY.values() if b.new_items_only for n in b.names)


def warm_params() -> tuple[str, ...]:
    return tuple(p for b in REGISTRY.values() for p in b.warm_params)


def skipped_baselines(snapshot: Snapshot) -> dict[str, str]:
    """The baselines a night of this size leaves out, each with why (the log and the `train`
    summary say so: a missing yardstick is never silent)."""
    out: dict[str, str] = {}
    for baseline in REGISTRY.values():
        why = baseline.skip(snapshot) if baseline.skip else None
        if why:  # its own name and the variants no other baseline logs under
            others = {n for b in REGISTRY.values() if b is not baseline for n in b.names}
            out.update(dict.fromkeys([baseline.name, *set(baseline.names) - others], why))
    return dict(sorted(out.items()))


def baseline_metrics(
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    *,
    seed: int,
    tuning: tuple[Split, Exam] | None = None,
    reuse: dict[str, float] | None = None,
) -> dict[str, float]:
    """Every registered baseline on the exam, the tuned ones tuned on `tuning`, or with the
    parameters of `reuse` (a warm night's parent run's metrics) where it holds them."""
    night = BaselineNight(snapshot, split, exam, tuning, seed, reuse)
    skipped = skipped_baselines(snapshot)
    out: dict[str, float] = {}
    for baseline in REGISTRY.values():
        if baseline.name in skipped:
            log.warning("baseline %s skipped: %s", baseline.name, skipped[baseline.name])
            continue
        started = time.perf_counter()
        out.update(baseline.score(night))
        log.info("baseline %s: %.1f s", baseline.name, time.perf_counter() - started)
    return out


def _too_many_items(snapshot: Snapshot) -> str | None:
    n_items = len(snapshot.items)
    if n_items <= ease.EASE_MAX_ITEMS:
        return None
    return (
        f"{n_items:,} items > {ease.EASE_MAX_ITEMS:,}: EASE inverts a dense items x items "
        "matrix (float32, ~8 bytes x items² and items³ work)"
    )


def _too_many_rows(snapshot: Snapshot) -> str | None:
    rows = len(snapshot.users) + len(snapshot.items)
    if rows <= baselines.BIASED_MF_MAX_ROWS:
        return None
    return (
        f"{rows:,} users + items > {baselines.BIASED_MF_MAX_ROWS:,}: one solve per user and "
        "item, up to 15 rounds, 4-8 fits"
    )


MF_TUNED = ("param", "factors", "alpha")  # iALS's grid point, as `implicit_mf` logs it


def _tuned(*names: str, what: tuple[str, ...] = ("param", "half_life")) -> tuple[str, ...]:
    return tuple(f"baseline_{n}_{w}" for n in names for w in what)


register(
    Baseline(
        "ease", exam_of.ease, ("ease", "ease_recent"), _tuned("ease", "ease_recent"),
        skip=_too_many_items,
    )
)  # fmt: skip
register(
    Baseline(
        "itemknn", exam_of.itemknn, ("itemknn", "itemknn_recent"),
        _tuned("itemknn", "itemknn_recent"),
    )
)  # fmt: skip
register(Baseline("mf", exam_of.implicit_mf, warm_params=_tuned("mf", what=MF_TUNED)))
register(Baseline("popularity", exam_of.popularity))
register(Baseline("content", exam_of.content))
register(
    Baseline(
        "content_recent", exam_of.content_recent,
        warm_params=("baseline_content_recent_half_life",),
    )
)  # fmt: skip
register(Baseline("random_new", exam_of.random_new, new_items_only=True))
register(Baseline("bias", exam_of.bias))
register(
    Baseline(
        "mf (ratings)", exam_of.biased_mf, ("mf",), ("baseline_mf_rating_param",),
        skip=_too_many_rows,
    )
)  # fmt: skip
