"""Fitting a recommender: encode the night, train the towers (`towers/loop.py`), then choose the
score terms and the social text weight on the validation slice (`terms.py`).

Deterministic on CPU for a given seed: numpy draws the batches and negatives, torch is seeded, and
nothing depends on the clock or on thread timing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.recommender import OfRecommender, Recommender
from pipeline.learn.ensemble.terms import choose_terms, refit_terms, rescale_terms
from pipeline.learn.ensemble.validation import ValidationSlice
from pipeline.learn.ensemble.warm_state import WarmStart
from pipeline.learn.towers.feature_space import FeatureSpace, text_profiles
from pipeline.learn.towers.loop import (
    TowerLoop,
    WarmFrom,
)
from pipeline.learn.towers.model import ModelConfig, MultiTaskModel
from pipeline.learn.towers.social_blend import choose_text_weight, split_pairs
from pipeline.learn.towers.train_config import TrainConfig
from pipeline.learn.towers.warm_start import Moments, check_architecture, extend_state

log = logging.getLogger(__name__)


@dataclass
class Fitted(OfRecommender):
    recommender: Recommender
    epoch_log: list[dict[str, float]]  # one row per epoch: losses and validation metrics
    epochs: int  # epochs of the returned weights (the best on validation, when there was one)
    # validation NDCG@10 of what is served (towers + the chosen terms); NaN without validation
    validation_ndcg: float = math.nan
    moments: Moments | None = None  # Adam's state of the returned weights (for a warm start)
    # grid choices made on the validation slice that a baseline twin reuses (`baseline_*` keys)
    grid_choices: dict[str, float] = field(default_factory=dict)


def budgeted_epochs(epochs: int, events: pd.DataFrame, cfg: TrainConfig) -> int:
    """`epochs`, at most as many as `cfg.epoch_event_budget` events x epochs allow (at least
    one): a large night trains fewer passes, decided by its size, never by a clock."""
    allowed = max(1, int(cfg.epoch_event_budget // max(len(events), 1)))
    if allowed < epochs:
        log.info(
            "%d epochs at most: %s events x epochs (RECSYS_TRAIN_EPOCH_EVENT_BUDGET) / %s events",
            *(allowed, f"{cfg.epoch_event_budget:,.0f}", f"{len(events):,}"),
        )
    return min(epochs, allowed)


def budgeted_patience(allowed: int, cfg: TrainConfig) -> int:
    """`cfg.patience`, shrunk in proportion with the epochs the events budget allows
    (`budgeted_epochs`: `allowed` of `cfg.max_epochs`), at least one: the epochs spent waiting
    for a better validation cost events too, and a night that may train 19 epochs of 30 waits
    3 rather than 5."""
    return max(1, min(cfg.patience, round(cfg.patience * allowed / cfg.max_epochs)))


# the towers' loop of a fit: (its config, device, validation events) -> the loop; in the
# task's process by default, a data-parallel Spark job for a large night (`distributed.py`)
TowersOf = Callable[[TrainConfig, torch.device, pd.DataFrame | None], TowerLoop]


def local_towers(cfg: TrainConfig, device: torch.device, _: pd.DataFrame | None) -> TowerLoop:
    return TowerLoop(cfg, device)


class Trainer:
    """Fits one model on `events` (and friend `pairs`) of a snapshot."""

    def __init__(
        self, snapshot: Snapshot, cfg: TrainConfig, towers: TowersOf = local_towers
    ) -> None:
        self.snapshot, self.cfg, self.towers = snapshot, cfg, towers
        self.device = torch.device(cfg.device)

    def fit(
        self,
        events: pd.DataFrame,
        pairs: np.ndarray,
        *,
        validation: pd.DataFrame | None = None,
        epochs: int | None = None,
        label: str = "fit",
        terms_of: Recommender | None = None,
        social_text_weight: float = 0.0,
        warm: WarmStart | None = None,
    ) -> Fitted:
        """With `validation`, the epochs, the terms and the social text weight are chosen on it
        (the weight on held-out friend pairs); without, a refit trains `epochs` epochs and keeps
        the terms of `terms_of` (refitted on `events`) and `social_text_weight` chosen before.
        With `warm`, the model starts from its weights and trains `epochs` epochs on the events
        after its data (and a replay sample); its terms and social weight are kept, refitted."""
        cfg, snap, dev = self.cfg, self.snapshot, self.device
        rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        space = FeatureSpace.fit(
            snap,
            events,
            recent_half_life=cfg.recent_history_half_life,
            history_len=cfg.history_length,
        )
        users_f, items_f = (f.to(dev) for f in space.encode(snap, events))
        model_cfg = ModelConfig(
            text_dim=snap.text_dim,
            user_texts=len(users_f.texts),
            history_len=cfg.history_length,
            **space.sizes(),
            # a history-based user is their (rated) items and profile: no id embedding unless asked
            **{
                "user_ids": cfg.history_length == 0,
                **dict.fromkeys(("rating_user_bias", "rating_history"), cfg.history_length > 0),
                **cfg.model,
            },
        )
        model = MultiTaskModel(model_cfg).to(dev)
        rec = Recommender(model, space)
        if warm is not None:
            check_architecture(warm.model.cfg, model_cfg)
            state = model.state_dict()
            model.load_state_dict(extend_state(warm.model.state_dict(), warm.space, space, state))
            # the evaluated fit keeps its start's term choices; a refit for serving keeps
            # tonight's evaluated fit's (`terms_of`: their weights were chosen again tonight)
            terms_of = terms_of if terms_of is not None else warm.recommender
            social_text_weight = warm.model.cfg.social_text_weight
        # a fit with validation holds out a share of the friend pairs for the social text weight
        held = pairs[:0]
        if validation is not None and cfg.loss_weights.get("social", 0.0) > 0 and warm is None:
            pairs, held = split_pairs(pairs, cfg.seed)
        validate = None
        if validation is not None and len(validation):

            def validate() -> dict[str, float]:
                return ValidationSlice(rec, users_f, items_f, snap, events, validation).metrics()

        allowed = budgeted_epochs(cfg.max_epochs, events, cfg)
        loop_cfg = replace(cfg, patience=budgeted_patience(allowed, cfg))
        if validation is not None and loop_cfg.patience < cfg.patience:
            log.info(
                "patience: %d of %d epochs (the events budget)", loop_cfg.patience, cfg.patience
            )
        trained = self.towers(loop_cfg, dev, validation if validate is not None else None).run(
            model,
            users_f,
            items_f,
            events,
            pairs,
            rng,
            epochs=allowed if epochs is None else min(epochs, allowed),
            label=label,
            space=space,
            validate=validate,
            warm=None if warm is None else WarmFrom(warm.data_end_s, warm.moments, warm.space),
        )
        active = trained.active
        model.eval()
        served = math.nan
        choices: dict[str, float] = {}
        if validation is not None and len(validation) and warm is not None:
            # a warm fit keeps its start's choices: refitted, reweighted on the slice (the
            # towers moved), then refitted with the slice as a full fit's are
            assert terms_of is not None
            refit_terms(rec, terms_of, snap, events, cfg.seed)
            judge = ValidationSlice(rec, users_f, items_f, snap, events, validation)
            served = rescale_terms(rec, judge, events, len(snap.users))
            everything = pd.concat([events, validation], ignore_index=True)
            refit_terms(rec, rec, snap, everything, cfg.seed)
        elif validation is not None and len(validation):
            served = choose_terms(
                rec,
                ValidationSlice(rec, users_f, items_f, snap, events, validation),
                snap,
                events,
                validation,
                item_item=cfg.item_item_term,
                factors=cfg.factor_term,
                transition=cfg.transition_term,
                text=cfg.text_term,
                rating=cfg.rating_term and active["rating"],
                seed=cfg.seed,
                chosen=choices,
            )
        elif terms_of is not None:
            refit_terms(rec, terms_of, snap, events, cfg.seed)
        model.cfg.social_text_weight = social_text_weight
        if len(held) and active["social"]:
            heads = model.head_tables(users_f, items_f, rating=False)
            model.cfg.social_text_weight = choose_text_weight(
                model.social_vectors(heads), text_profiles(snap, events), pairs, held
            )
        return Fitted(
            rec,
            trained.epoch_log,
            trained.epochs,
            validation_ndcg=served,
            moments=trained.moments,
            grid_choices=choices,
        )
