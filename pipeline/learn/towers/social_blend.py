"""The social score's text term: the towers' friend score plus the users' text similarity.

The social head ranks people by the cosine of projected user vectors. How alike two people
describe themselves (their profile text, or for a user without one the mean text of their
items: what the `content` baseline ranks by) is a strong friend finder on its own, and the
towers blur it. So the served score is cos(social vectors) + w · cos(texts)
(`feature_space.text_profiles`), with w chosen by social recall@10 on friend pairs the fit did
not train on (`choose_text_weight`); w = 0, the towers alone, is one of the choices. As
vectors: [unit social vector, sqrt(w) · unit text], whose dot products are that score (divided
by 1 + w, so it stays a similarity in [-1, 1]), and similar users stay one matrix product.
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.learn.data.choice import first_best
from pipeline.learn.data.judged import judged_users, kept_for
from pipeline.learn.data.ranking import ranked_lists, seen_matrix
from pipeline.metrics.functions import recall_at_k

log = logging.getLogger(__name__)

TEXT_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# the share of a fit's friend pairs held out to choose the weight, when there are enough
VALIDATION_SHARE = 0.1
VALIDATION_MIN_PAIRS = 20
K = 10


def blended(social: np.ndarray, texts: np.ndarray | None, weight: float) -> np.ndarray:
    """Vectors whose dot product is (cos(social) + weight · cos(text)) / (1 + weight): the
    same ranking as the sum, and still a similarity in [-1, 1] (the published tables say so)."""
    if weight <= 0:
        return social
    if texts is None:
        raise ValueError("a social text weight needs the users' text profiles")
    parts = [social, np.float32(np.sqrt(weight)) * texts]
    return np.concatenate(parts, axis=1) / np.float32(np.sqrt(1.0 + weight))


def split_pairs(pairs: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pairs to train on, pairs to choose the weight on): a seeded share, or none when the
    validation share would be too small to judge."""
    held = np.random.default_rng(seed).random(len(pairs)) < VALIDATION_SHARE
    if held.sum() < VALIDATION_MIN_PAIRS:
        return pairs, pairs[:0]
    return pairs[~held], pairs[held]


def choose_text_weight(
    social: np.ndarray, texts: np.ndarray, known: np.ndarray, held: np.ndarray
) -> float:
    """The weight of `TEXT_WEIGHTS` with the best social recall@10 of the `held` pairs (both
    directions), each user's `known` friends and themself excluded; ties go to the smaller."""
    if not len(held):
        return 0.0
    n = len(social)
    both = np.concatenate([held, held[:, ::-1]])
    truth: dict[int, set[int]] = {}
    for a, b in both.tolist():
        truth.setdefault(a, set()).add(b)
    seen_pairs = np.concatenate([known, known[:, ::-1], np.repeat(np.arange(n), 2).reshape(-1, 2)])
    exclude = seen_matrix(seen_pairs[:, 0], seen_pairs[:, 1], (n, n))
    rows = judged_users(np.array(sorted(truth), dtype=np.int64), n)
    if len(rows) < len(truth):
        truth = kept_for(truth, rows)
    # the two similarities of the judged users, once: a weight's ranking is their weighted sum
    # (the blended vectors' dot product divided by 1 + w, which ranks the same)
    by_social = social[rows] @ social.T
    by_text = texts[rows] @ texts.T
    recalls: dict[float, float] = {}
    for weight in TEXT_WEIGHTS:

        def score(r: np.ndarray, w: float = weight) -> np.ndarray:
            at = np.searchsorted(rows, r)  # `ranked_lists` asks for chunks of `rows` (sorted)
            return by_social[at] + np.float32(w) * by_text[at]

        preds = ranked_lists(score, rows, K, exclude=exclude)
        recalls[weight] = recall_at_k(truth, preds, k=K)  # type: ignore[arg-type]
        log.debug(
            "social text weight %g: validation social recall@10 %.4f", weight, recalls[weight]
        )
    best = first_best(TEXT_WEIGHTS, recalls.__getitem__)
    log.info(
        "social text weight %g: validation social recall@10 %.4f (%d held-out pairs)",
        best,
        recalls[best],
        len(held),
    )
    return best
