"""Training the towers as a data-parallel job on the night's Spark master, for nights too large
for one machine's epochs (RECSYS_TRAIN_DISTRIBUTED_PROCESSES, _MIN_EVENTS).

`SparkTowerLoop` is a `TowerLoop` whose `run` writes the loop's inputs to a job file on the
night's shared storage, submits `towers_job.py` (Spark's TorchDistributor: one barrier task per
process, each a torchrun rank) and loads what rank 0 trained back into the caller's model. Each
rank runs the same loop with its `Shard` of every step (`towers/shard.py`): the same seeded draws,
its slice of the rows, gradients averaged over `gloo` (CPU) or `nccl` (GPU); every rank holds
the same weights. Rank 0 validates each epoch and sends its metrics to the others, so all stop
at the same epoch. Everything around the towers (the closed-form terms, the baselines, the gate)
stays in the task's process.

The job file holds the night's events and its snapshot: readable by the night's account only, it
lives in the run's folder while the job runs and is removed when it ends (a killed job's is
removed by the next job, and by `forget`).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.core.allocator import keep_freed_memory
from pipeline.learn.data.snapshot import Snapshot
from pipeline.learn.ensemble.recommender import Recommender
from pipeline.learn.ensemble.validation import ValidationSlice
from pipeline.learn.towers.feature_space import FeatureSpace
from pipeline.learn.towers.loop import TowerLoop, Trained, WarmFrom
from pipeline.learn.towers.model import MultiTaskModel, TowerInputs
from pipeline.learn.towers.shard import Shard
from pipeline.learn.towers.train_config import TrainConfig

log = logging.getLogger(__name__)

# runs the job: (job file, output file) -> None, raising when the job fails
SubmitTowers = Callable[[Path, Path], None]


@dataclass
class TowersJob:
    """Everything one rank needs to run the loop (on the CPU; each rank moves it to its device)."""

    cfg: TrainConfig
    model: MultiTaskModel
    users_f: TowerInputs
    items_f: TowerInputs
    events: pd.DataFrame
    pairs: np.ndarray
    rng: np.random.Generator
    epochs: int
    label: str
    space: FeatureSpace
    warm: WarmFrom | None
    # the snapshot and the validation events: each rank builds the same `ValidationSlice`
    validation: tuple[Snapshot, pd.DataFrame] | None


@dataclass
class TowersResult:
    state: dict[str, torch.Tensor]  # rank 0's weights after the loop (the best epoch's)
    trained: Trained
    rng_state: dict[str, Any]  # the generator after the loop, as a single process leaves it


def train_rank(job_path: str) -> TowersResult | None:
    """One rank of the job (run by torchrun under TorchDistributor): rank 0 returns the result."""
    import torch.distributed as dist

    keep_freed_memory()  # a rank's steps as a single process's: large tensors from kept memory
    job: TowersJob = torch.load(job_path, weights_only=False)
    # TorchDistributor shows a rank its GPU only when the job asked for GPUs (`--gpu`)
    gpu = torch.cuda.is_available()
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if gpu else "cpu")
        # the ranks' output comes back to the job's log: rank 0 tells the epochs, each its start
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        if rank:
            logging.getLogger(TowerLoop.__module__).setLevel(logging.WARNING)
        log.info("%s: rank %d of %d on %s", job.label, rank, world, device)
        torch.manual_seed(job.cfg.seed + rank)  # dropout: each rank's own masks for its rows
        model = job.model.to(device)
        users_f, items_f = job.users_f.to(device), job.items_f.to(device)
        validate = None
        if job.validation is not None:
            snap, held = job.validation
            rec = Recommender(model, job.space)

            def validate() -> dict[str, float]:
                # rank 0 judges, every rank gets its row: one decision to stop, taken once
                row = [None]
                if rank == 0:
                    row = [ValidationSlice(rec, users_f, items_f, snap, job.events, held).metrics()]
                dist.broadcast_object_list(row, src=0, device=device if gpu else None)
                return row[0]

        cfg = replace(job.cfg, device=str(device), progress=job.cfg.progress and rank == 0)
        trained = TowerLoop(cfg, device, Shard(rank, world, str(device))).run(
            model,
            users_f,
            items_f,
            job.events,
            job.pairs,
            job.rng,
            epochs=job.epochs,
            label=job.label if rank == 0 else f"{job.label} (rank {rank})",
            space=job.space,
            validate=validate,
            warm=job.warm,
        )
        if rank != 0:
            return None
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return TowersResult(state, trained, job.rng.bit_generator.state)
    finally:
        dist.destroy_process_group()


class SparkTowerLoop(TowerLoop):
    """The towers' loop as the data-parallel Spark job: `run` as `TowerLoop.run`'s, in `work`."""

    def __init__(
        self,
        cfg: TrainConfig,
        device: torch.device,
        validation: pd.DataFrame | None,
        *,
        work: Path,
        submit: SubmitTowers,
        snapshot: Snapshot,
    ) -> None:
        super().__init__(cfg, device)
        self.work, self.submit = work, submit
        self.snapshot, self.validation = snapshot, validation

    def run(self, model: MultiTaskModel, *inputs: Any, **options: Any) -> Trained:
        """`TowerLoop.run` with its arguments, as the job: `validate` is rebuilt in the ranks from
        the validation events this loop was made with."""
        users_f, items_f, events, pairs, rng = inputs
        validation = None
        if options.get("validate") is not None and self.validation is not None:
            validation = (self.snapshot, self.validation)
        job = TowersJob(
            self.cfg,
            copy.deepcopy(model).cpu(),
            users_f.to("cpu"),
            items_f.to("cpu"),
            events,
            pairs,
            rng,
            options["epochs"],
            options["label"],
            options["space"],
            options.get("warm"),
            validation,
        )
        label = job.label
        self.work.mkdir(parents=True, exist_ok=True)
        for leftover in self.work.glob("*.pt"):  # of a job killed before it cleaned up
            leftover.unlink()
        name = label.replace(" ", "-")
        job_path, output = self.work / f"{name}.job.pt", self.work / f"{name}.result.pt"
        try:
            # the night's events and snapshot: readable by this account only
            with os.fdopen(
                os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb"
            ) as f:
                torch.save(job, f)
            log.info("%s: the towers train as a distributed job (%s)", label, job_path.parent)
            self.submit(job_path, output)
            result: TowersResult = torch.load(output, weights_only=False)
        finally:
            job_path.unlink(missing_ok=True)
            output.unlink(missing_ok=True)
        model.load_state_dict(result.state)
        # the caller's generator goes on from where the job's left it, as after a local loop
        rng.bit_generator.state = result.rng_state
        return result.trained
