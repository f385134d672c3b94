"""The single-task control: each task trained alone with the multi-task model's budget, so a night
can say, per task, whether learning the tasks together helped it.

Same data, seed, architecture, epochs limit and early stopping as the multi-task fit; only the
loss weights differ (the task alone, weight 1). The interaction model stops on validation NDCG@10,
the rating model on validation RMSE; the social task has no validation slice, so it trains for
the epochs the multi-task fit chose. Each model is scored on the same holdout, on its own task's
metrics only, logged as `single_<task>_<metric>`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from pipeline.evaluate.exam import Exam, model_metrics
from pipeline.evaluate.split import Split
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.fit import Trainer
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.metrics.catalogue import TASKS, single_key, task_metrics

log = logging.getLogger(__name__)

SELECT_ON = {"interaction": "val_ndcg_at_10", "rating": "val_rating_rmse"}


def trainable_tasks(cfg: TrainConfig, split: Split, tuning: Split) -> list[str]:
    """The tasks the multi-task fit trains: a weight above 0 and data to learn from."""
    has = {
        "interaction": len(tuning.train) > 0,
        "rating": bool(tuning.train["rating"].notna().any()),
        "social": len(split.friends_train) > 0,
    }
    return [t for t in TASKS if cfg.loss_weights.get(t, 0.0) > 0 and has[t]]


def single_task_metrics(
    snapshot: Snapshot,
    cfg: TrainConfig,
    split: Split,
    tuning: Split,
    exam: Exam,
    multi_task_epochs: int,
    social_text_weight: float = 0.0,
) -> dict[str, float]:
    out: dict[str, float] = {}
    tasks = trainable_tasks(cfg, split, tuning)
    if len(tasks) < 2:
        log.info("single-task control skipped: only %s is trained", tasks or "no task")
        return out
    for task in tasks:
        alone = replace(
            cfg,
            loss_weights={task: 1.0},
            loss_weighting="fixed",
            select_on=SELECT_ON.get(task, cfg.select_on),
        )
        stops = task in SELECT_ON and (task != "rating" or tuning.holdout["rating"].notna().any())
        fitted = Trainer(snapshot, alone).fit(
            tuning.train,
            split.friends_train,
            validation=tuning.holdout if stops else None,
            epochs=None if stops else multi_task_epochs,
            label=f"{task} alone",
            # the social score's text term is not a task: alone, social keeps the night's weight
            social_text_weight=social_text_weight,
        )
        metrics = model_metrics(fitted, snapshot, split, exam)
        out.update({single_key(task, m): metrics[m] for m in task_metrics(task) if m in metrics})
        out[f"single_{task}_epochs"] = float(fitted.epochs)
        log.info("single-task control %s: %d epochs", task, fitted.epochs)
    return out
