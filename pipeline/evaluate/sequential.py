"""The sequential yardstick: SASRec with full cross-entropy (`learn/algorithms/sasrec.py`),
tuned on a validation slice as the baselines are, then refitted and scored on the exam.

Not a nightly baseline (a night would train a second neural model); the quality benchmarks
report it beside the model, so every table says how the model stands against a real
sequential recommender on the same split.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from pipeline.evaluate.exam import Exam
from pipeline.evaluate.split import Split
from pipeline.learn.algorithms import sasrec
from pipeline.learn.data.snapshot import Snapshot

log = logging.getLogger(__name__)

# the sequence a user is read as: long enough for most users' histories (the 90th percentile
# of their event counts), within the bounds the SASRec papers use (50 for sparse shops, 200 for
# MovieLens)
MIN_LEN, MAX_LEN = 20, 200


def sequence_length(events_per_user: np.ndarray) -> int:
    if not len(events_per_user):
        return MIN_LEN
    return int(np.clip(np.percentile(events_per_user, 90), MIN_LEN, MAX_LEN))


def sasrec_metrics(
    snapshot: Snapshot, split: Split, exam: Exam, tuning: tuple[Split, Exam], seed: int = 42
) -> dict[str, float]:
    """`sasrec_<metric>` on the exam: epochs chosen by the validation NDCG@10 of `tuning`, then
    refitted on the split's training events for that many epochs; plus its epochs and seconds."""
    started = time.perf_counter()
    shape = (len(snapshot.users), len(snapshot.items))
    counts = np.bincount(split.train["user"].to_numpy(), minlength=shape[0])
    cfg = sasrec.SASRecConfig(max_len=sequence_length(counts[counts > 0]), seed=seed)
    fit_on, judge = tuning

    def validated(score_fn: sasrec.ScoreFn) -> float:
        return judge.ranking(score_fn)["ndcg_at_10"]

    _, epochs = sasrec.fit(fit_on.train, *shape, cfg, validate=validated)
    model, _ = sasrec.fit(split.train, *shape, cfg, epochs=epochs)
    seqs = sasrec.sequences(split.train, shape[0], cfg.max_len)
    out = exam.ranking(sasrec.scorer(model, seqs))
    log.info("SASRec: %d epochs, length %d, NDCG@10 %.4f", epochs, cfg.max_len, out["ndcg_at_10"])
    return {
        **{f"sasrec_{k}": v for k, v in out.items()},
        "sasrec_epochs": float(epochs),
        "sasrec_max_len": float(cfg.max_len),
        "sasrec_seconds": time.perf_counter() - started,
    }
