"""The compact RL trainer: rollout -> reward -> advantage -> mini-batch updates -> checkpoint.

    from fipo_bench.train import TrainJob, train
    result = train(TrainJob(preset="tiny-fipo", config=cfg, model_dir=..., out_dir=...,
                            db_path=..., steps=3))

Modules: job (the validated request), prepare (checks + loads, writes nothing), loop (the loop),
rollout / rollout_batch (sampling, rewards, dynamic sampling, tensors), update (old log-probs
and optimiser steps), credit / credit_rows (per-token credit), checkpoint, data_order, schedule,
metrics, reporting, run_dir, settings.
"""

from fipo_bench.train.job import TrainJob
from fipo_bench.train.loop import TrainResult, train

__all__ = ["TrainJob", "TrainResult", "train"]
