"""The baselines on the exam, scored exactly like the model: EASE, ItemKNN and implicit MF with
their parameter tuned on the validation split, popularity, text similarity (to the whole history,
and to the recent history with its half-life tuned), random new items, and the bias and biased-MF
rating models. Every value is logged as `baseline_<name>_<metric>`.

Each is one function of a `BaselineNight` returning every key it logs; `baseline_registry.py`
lists them (one entry per baseline) and runs them.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.evaluate import baselines
from pipeline.evaluate.exam import Exam
from pipeline.evaluate.split import Split
from pipeline.learn.algorithms.biased_mf import BIASED_MF_LAMBDAS, BiasedMF
from pipeline.learn.algorithms.ease import EASE, EASE_LAMBDAS
from pipeline.learn.algorithms.ials import MF_GRID, ImplicitMF, mf_grid
from pipeline.learn.algorithms.itemknn import ITEMKNN_KS, NeighbourCache
from pipeline.learn.data.choice import first_best, walk_grid
from pipeline.learn.data.history import RECENCY_HALF_LIVES, binary_matrix, recency_matrix
from pipeline.learn.data.ranking import pick_pairs
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.towers.feature_space import history_text, text_profiles
from pipeline.learn.towers.loop import both_directions
from pipeline.metrics.catalogue import baseline_key
from pipeline.metrics.functions import mae, rmse

log = logging.getLogger(__name__)

# fitted models a walk of a baseline's grid keeps at once (an EASE fit is items x items floats)
KEPT_FITS = 3


def collaborative_metrics(
    name: str,
    fit: Callable[[sp.csr_matrix, float], baselines.ItemScorer],
    grid: tuple[float, ...],
    snapshot: Snapshot,
    split: Split,
    exam: Exam,
    tuning: tuple[Split, Exam] | None,
    *,
    half_lives: tuple[float, ...] = (),
    reuse: dict[str, float] | None = None,
    walk: bool = False,
) -> dict[str, float]:
    """A collaborative baseline (EASE, ItemKNN, MF): its parameter chosen by validation NDCG@10
    from `grid` (the middle value without a validation slice), refitted on the training period.
    With `walk` (an ordered grid), only the points on the way to the best are scored
    (`walk_grid`); else every one.

    With `half_lives`, the same fits are also scored from recency-weighted histories: the variant
    `<name>_recent`, its (parameter, half-life) pair chosen by validation NDCG@10 as well.
    `reuse` (a warm night: its parent's `baseline_<variant>_param` / `_half_life`) skips the
    choice where it holds every variant's."""
    shape = (len(snapshot.users), len(snapshot.items))
    variants = {name: (math.inf,)}  # an infinite half-life: the plain binary history
    if half_lives:
        variants[f"{name}_recent"] = half_lives

    def weighted(events: pd.DataFrame, half_life: float) -> sp.csr_matrix:
        users, items = events["user"].to_numpy(), events["item"].to_numpy()
        if math.isinf(half_life):
            return binary_matrix(users, items, shape)
        times = events["event_s"].to_numpy()
        return recency_matrix(users, items, times, shape, half_life)

    chosen = {v: (grid[len(grid) // 2], hs[len(hs) // 2]) for v, hs in variants.items()}
    given = reuse or {}
    if all(f"baseline_{v}_param" in given for v in variants):
        chosen = {
            v: (given[f"baseline_{v}_param"], given.get(f"baseline_{v}_half_life", math.inf))
            for v in variants
        }
    elif tuning is not None and tuning[1].evaluable_users and len(tuning[0].train):
        chosen = _tuned(fit, grid, variants, tuning, weighted, walk=walk)
    x = weighted(split.train, math.inf)
    fitted: dict[float, baselines.ItemScorer] = {}
    out: dict[str, float] = {}
    for variant, (value, h) in chosen.items():
        if value not in fitted:  # ease and ease_recent often choose the same λ: fit it once
            fitted[value] = fit(x, value)
        model = fitted[value]
        scored_from = x if math.isinf(h) else weighted(split.train, h)

        def score(rows: np.ndarray, m: baselines.ItemScorer = model, s=scored_from) -> np.ndarray:
            return m.scores(s, rows)

        out.update({baseline_key(variant, k): v for k, v in exam.ranking(score).items()})
        out[baseline_key(variant, "interaction_auc")] = exam.interaction_auc(
            lambda a, b, f=score: pick_pairs(f, a, b)
        )
        out[f"baseline_{variant}_param"] = float(value)  # the tuned values, not metrics
        if not math.isinf(h):
            out[f"baseline_{variant}_half_life"] = float(h)
    return out


def _tuned(
    fit: Callable[[sp.csr_matrix, float], baselines.ItemScorer],
    grid: tuple[float, ...],
    variants: dict[str, tuple[float, ...]],
    tuning: tuple[Split, Exam],
    weighted: Callable[[pd.DataFrame, float], sp.csr_matrix],
    *,
    walk: bool,
) -> dict[str, tuple[float, float]]:
    """Each variant's (parameter, half-life) by validation NDCG@10: every point of the grid,
    or (`walk`) the plain history's walk along the parameter, then the recency-weighted ones'
    walk along both from there. A fit serves every history it is scored from; the three read
    last are kept (an EASE fit of 12,000 items is 600 MB and a quarter of a minute, and a walk
    along the half-lives reads the fits either side of its parameter again)."""
    histories: dict[float, sp.csr_matrix] = {}
    fits: OrderedDict[float, baselines.ItemScorer] = OrderedDict()
    scored: dict[tuple[float, float], float] = {}

    def history(h: float) -> sp.csr_matrix:
        if h not in histories:
            histories[h] = weighted(tuning[0].train, h)
        return histories[h]

    def ndcg(value: float, h: float) -> float:
        if value in fits:
            fits.move_to_end(value)  # read last: kept longest
        if (value, h) not in scored:
            if value not in fits:
                fits[value] = fit(history(math.inf), value)
                while len(fits) > KEPT_FITS:
                    fits.popitem(last=False)
            model, x = fits[value], history(h)
            ranked = tuning[1].ranking(lambda rows: model.scores(x, rows))
            scored[(value, h)] = ranked["ndcg_at_10"]
        return scored[(value, h)]

    if not walk:
        every = sorted({h for hs in variants.values() for h in hs})
        for value in grid:  # each fit scored from every history while it is kept
            for h in every:
                ndcg(value, h)
        return {
            variant: first_best([(v, h) for v in grid for h in hs], lambda p: ndcg(*p))
            for variant, hs in variants.items()
        }
    # the plain history's walk first (`variants` starts with it); the others start from its choice
    chosen: dict[str, tuple[float, float]] = {}
    start = None
    for variant, hs in variants.items():
        value, h = walk_grid([grid, hs], lambda p: ndcg(*p), start=start)
        chosen[variant] = (value, h)
        start = start or [grid.index(value), len(hs) // 2]
    return chosen


@dataclass(frozen=True)
class BaselineNight:
    """What every baseline is given: the night, its split and exam, the validation slice to tune
    on (`tuning`), the seed, and a warm night's parent's tuned parameters (`reuse`)."""

    snapshot: Snapshot
    split: Split
    exam: Exam
    tuning: tuple[Split, Exam] | None
    seed: int
    reuse: dict[str, float] | None = None


def ease(night: BaselineNight) -> dict[str, float]:
    return collaborative_metrics(
        "ease", EASE.fit, EASE_LAMBDAS, *_exam_of(night),
        half_lives=RECENCY_HALF_LIVES, reuse=night.reuse, walk=True,
    )  # fmt: skip


def itemknn(night: BaselineNight) -> dict[str, float]:
    ks = tuple(float(k) for k in ITEMKNN_KS)
    cache = NeighbourCache()  # the grid's ks cut one ranking of the co-occurrences
    return collaborative_metrics(
        "itemknn", lambda x, k: cache.fit(x, int(k)), ks, *_exam_of(night),
        half_lives=RECENCY_HALF_LIVES, reuse=night.reuse, walk=True,
    )  # fmt: skip


def implicit_mf(night: BaselineNight) -> dict[str, float]:
    """iALS, its (factors, L2, alpha) point of `MF_GRID` tuned like the others' parameter."""
    tuned_on = night.tuning[0].train if night.tuning is not None else night.split.train
    searched = set(mf_grid(len(tuned_on)))  # the factor term's grid for as many events
    grid = tuple(float(i) for i, point in enumerate(MF_GRID) if point in searched)
    mf = collaborative_metrics(
        "mf", ImplicitMF.fit_grid, grid, *_exam_of(night), reuse=_mf_index(night.reuse)
    )
    # the tuning loop chose an index of the grid: log what it stands for
    factors, lam, alpha = MF_GRID[int(mf["baseline_mf_param"])]
    mf.update(baseline_mf_param=lam, baseline_mf_factors=float(factors), baseline_mf_alpha=alpha)
    return mf


def popularity(night: BaselineNight) -> dict[str, float]:
    """Items by their training events; friends by their number of friends."""
    snapshot, split, exam = night.snapshot, night.split, night.exam
    n_items = len(snapshot.items)
    pop = baselines.popularity(split.train["item"].to_numpy(), n_items)
    out = exam.ranking(lambda rows: np.broadcast_to(pop, (len(rows), n_items)))
    out["interaction_auc"] = exam.interaction_auc(lambda a, b: pop[b])
    if len(snapshot.friends):
        degree = np.bincount(
            both_directions(split.friends_train)[:, 0], minlength=len(snapshot.users)
        ).astype(np.float32)
        out["social_recall_at_10"] = exam.social_recall(
            lambda rows: np.broadcast_to(degree, (len(rows), len(degree)))
        )
    return {baseline_key("popularity", k): v for k, v in out.items()}


def content(night: BaselineNight) -> dict[str, float]:
    """Text similarity: an item's text vector against the mean of the user's history's."""
    snapshot, train, exam = night.snapshot, night.split.train, night.exam
    profiles, _ = history_text(snapshot, train)
    item_text = snapshot.item_text
    out = exam.ranking(text_scorer(profiles, item_text))
    out["interaction_auc"] = exam.interaction_auc(
        lambda a, b: np.sum(profiles[a] * item_text[b], axis=1)
    )
    if len(snapshot.friends):
        who = text_profiles(snapshot, train)
        out["social_recall_at_10"] = exam.social_recall(lambda rows: who[rows] @ who.T)
    return {baseline_key("content", k): v for k, v in out.items()}


# content_recent's half-lives, in positions back from the user's latest item: 0.01 is the latest
# item alone (the one before it weighs 0.5 ** 100), infinity the plain mean (`content`'s profile)
CONTENT_HALF_LIVES = (0.01, 1.0, 3.0, 10.0, 30.0)


def text_scorer(profiles: np.ndarray, item_text: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Each item's text vector against the users' text `profiles`: scores of any item, new ones
    included, for the users `rows`."""
    return lambda rows: profiles[rows] @ item_text.T


def content_recent(night: BaselineNight) -> dict[str, float]:
    """Text similarity to what the user took lately: each item's text vector against the user's
    recency-weighted history of text vectors (`history_text`), the half-life of
    `CONTENT_HALF_LIVES` chosen by validation NDCG@10 (the middle one without a validation slice;
    a warm night's parent's where it holds one)."""
    snapshot, split, exam = night.snapshot, night.split, night.exam
    item_text = snapshot.item_text
    key = "baseline_content_recent_half_life"
    half_life = CONTENT_HALF_LIVES[len(CONTENT_HALF_LIVES) // 2]
    if night.reuse and key in night.reuse:
        half_life = night.reuse[key]
    elif (
        night.tuning is not None and night.tuning[1].evaluable_users and len(night.tuning[0].train)
    ):
        tuned_on, judge = night.tuning[0].train, night.tuning[1]

        def validated(h: float) -> float:
            profiles, _ = history_text(snapshot, tuned_on, h)
            return judge.ranking(text_scorer(profiles, item_text))["ndcg_at_10"]

        half_life = first_best(CONTENT_HALF_LIVES, validated)
    profiles, _ = history_text(snapshot, split.train, half_life)
    out = exam.ranking(text_scorer(profiles, item_text))
    out["interaction_auc"] = exam.interaction_auc(
        lambda a, b: np.sum(profiles[a] * item_text[b], axis=1)
    )
    return {**{baseline_key("content_recent", k): v for k, v in out.items()}, key: half_life}


def random_new(night: BaselineNight) -> dict[str, float]:
    """Seeded random items among those without training events: the yardstick for new items."""
    exam = night.exam
    noise = baselines.random_scores(
        len(night.snapshot.users), exam.cold & exam.released, night.seed
    )
    return {baseline_key("random_new", k): v for k, v in exam.ranking(lambda r: noise[r]).items()}


def bias(night: BaselineNight) -> dict[str, float]:
    """Global mean plus regularised user and item biases (ratings)."""
    if not _rated(night):
        return {}
    rated, truth = night.split.train.dropna(subset=["rating"]), night.exam.rated
    fitted = baselines.BiasBaseline.fit(
        rated["user"].to_numpy(),
        rated["item"].to_numpy(),
        rated["rating"].to_numpy(),
        (len(night.snapshot.users), len(night.snapshot.items)),
    )
    predicted = fitted.predict(truth["user"].to_numpy(), truth["item"].to_numpy())
    return {
        baseline_key("bias", "rating_rmse"): rmse(truth["rating"].to_numpy(), predicted),
        baseline_key("bias", "rating_mae"): mae(truth["rating"].to_numpy(), predicted),
    }


def _rated(night: BaselineNight) -> bool:
    """Whether the exam and the training period both hold ratings."""
    return bool(len(night.exam.rated)) and bool(night.split.train["rating"].notna().any())


def _exam_of(night: BaselineNight) -> tuple[Snapshot, Split, Exam, tuple[Split, Exam] | None]:
    return night.snapshot, night.split, night.exam, night.tuning


def biased_mf(night: BaselineNight) -> dict[str, float]:
    """The `mf` baseline's rating metrics: biased MF, lambda chosen by validation RMSE."""
    snapshot, split, exam, tuning, reuse = (
        night.snapshot,
        night.split,
        night.exam,
        night.tuning,
        night.reuse,
    )
    shape = (len(snapshot.users), len(snapshot.items))
    if not _rated(night):
        return {}

    def fit(events: pd.DataFrame, lam: float) -> BiasedMF:
        rated = events[events["rating"].notna()]
        return BiasedMF.fit(
            rated["user"].to_numpy(),
            rated["item"].to_numpy(),
            rated["rating"].to_numpy(),
            shape,
            lam,
        )

    grid = BIASED_MF_LAMBDAS
    best = grid[len(grid) // 2]
    if reuse and "baseline_mf_rating_param" in reuse:
        best = reuse["baseline_mf_rating_param"]
    elif tuning is not None and len(tuning[1].rated) and tuning[0].train["rating"].notna().any():
        val = tuning[1].rated

        def fit_error(point: tuple[float, ...]) -> float:
            predicted = fit(tuning[0].train, point[0]).predict(
                val["user"].to_numpy(), val["item"].to_numpy()
            )
            return -rmse(val["rating"].to_numpy(), predicted)

        (best,) = walk_grid([grid], fit_error)
    predicted = fit(split.train, best).predict(
        exam.rated["user"].to_numpy(), exam.rated["item"].to_numpy()
    )
    truth = exam.rated["rating"].to_numpy()
    return {
        baseline_key("mf", "rating_rmse"): rmse(truth, predicted),
        baseline_key("mf", "rating_mae"): mae(truth, predicted),
        "baseline_mf_rating_param": float(best),
    }


def _mf_index(reuse: dict[str, float] | None) -> dict[str, float] | None:
    """The iALS grid point a run logged (factors, lambda, alpha) as its index in the grid, or
    the index tonight's factor term chose by the same search (`baseline_mf_grid_index`)."""
    if reuse and "baseline_mf_grid_index" in reuse:
        return {"baseline_mf_param": reuse["baseline_mf_grid_index"]}
    if not reuse or "baseline_mf_factors" not in reuse:
        return None
    point = (reuse["baseline_mf_factors"], reuse["baseline_mf_param"], reuse["baseline_mf_alpha"])
    for index, (factors, lam, alpha) in enumerate(MF_GRID):
        if (float(factors), float(lam), float(alpha)) == point:
            return {"baseline_mf_param": float(index)}
    return None
