"""Train one SR network on a patch set: resumable, deterministic, budgeted by iterations or time.

:func:`train_model` writes into its output folder:

* ``weights.pt`` -- the best weights by validation PSNR (the latest when there is no
  validation set), in the format of :mod:`sruq.models.checkpoint`;
* ``last.pt`` -- everything needed to continue exactly where the run stopped (model,
  optimiser, EMA, discriminator and its optimiser, RNG states, sampler position, elapsed
  time, log; the learning-rate schedule is a function of iteration and time);
* ``log.csv`` -- loss and its parts, validation PSNR, learning rate, throughput, time;
* ``curve.png`` -- loss and validation PSNR against the iteration.

If ``last.pt`` exists the run continues from it: a killed run resumed gives the same
weights as one never stopped.  A ``last.pt`` written for another model, other training
settings or other data (see :func:`run_settings`) is not resumed: the run starts afresh.

Each model entry of the workflow config has a ``train:`` mapping read by
:meth:`TrainConfig.from_dict` (and a ``patches:`` mapping read by
:meth:`sruq.data.patches.PatchConfig.from_dict`).

The modules: :mod:`~sruq.train.config` (the settings and loss checks),
:mod:`~sruq.train.sampling` (the order of the training items), :mod:`~sruq.train.state`
(what a run changes: EMA, RNG states, learning-rate schedule, ``last.pt``),
:mod:`~sruq.train.step` (one optimisation step, supervised or adversarial) and
:mod:`~sruq.train.loop` (the loop, validation and the files).
"""

from __future__ import annotations

from sruq.train.config import TrainConfig, check_requirements, loss_spec
from sruq.train.loop import train_model, validate_psnr
from sruq.train.state import CHECKPOINT_FORMAT, lr_factor, run_settings
from sruq.train.step import TrainingDiverged

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainConfig",
    "TrainingDiverged",
    "check_requirements",
    "loss_spec",
    "lr_factor",
    "run_settings",
    "train_model",
    "validate_psnr",
]
