"""The training loop of :func:`train_model`: steps, validation, logging and the files.

:class:`Trainer` draws batches, runs the step, accumulates the logged values over the log
interval, validates every ``valid_every`` steps (keeping the best weights), and writes
``weights.pt``, ``last.pt``, ``log.csv`` and ``curve.png`` every ``checkpoint_every``
steps and at the end.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sruq.core.io import atomic_path
from sruq.core.progress import progress_bar
from sruq.evaluation.metrics import psnr
from sruq.models import SRModel
from sruq.models.checkpoint import save_weights
from sruq.models.predict import pick_device, upscale_image
from sruq.train.config import TrainConfig, check_requirements
from sruq.train.sampling import batch_loader
from sruq.train.state import Run, checkpoint, new_run, resume, run_settings, uses_channels_last
from sruq.train.step import SupervisedStep, diverged, make_step

ValidPairs = Sequence[tuple[np.ndarray, np.ndarray]]


def validate_psnr(model: SRModel, pairs: ValidPairs, device: torch.device) -> float:
    """Mean PSNR (Y channel, border of ``scale`` cropped) of ``model`` over ``(lr, hr)``
    uint8 pairs, the evaluation protocol of :mod:`sruq.evaluation.metrics`."""
    scores = [psnr(upscale_image(model, lr, device), hr, crop=model.scale) for lr, hr in pairs]
    return float(np.mean(scores))


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """``log.csv``: one column per key in order of first appearance, blanks where a row
    lacks one (atomic)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


class Trainer:
    """The loop of :func:`train_model`, with its bookkeeping (logging, validation, files)."""

    def __init__(self, arch: str, run: Run, step: SupervisedStep, cfg: TrainConfig,
                 valid_pairs: ValidPairs, out_dir: Path, device: torch.device,
                 settings: str, label: str | None = None) -> None:
        self.arch, self.run, self.step, self.cfg = arch, run, step, cfg
        self.label = label or arch
        self.valid_pairs, self.out, self.device = valid_pairs, out_dir, device
        self.settings = settings

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if uses_channels_last(self.cfg, self.device):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _accumulate(self, values: Mapping[str, float], seconds: float, images: int) -> None:
        acc = self.run.interval
        for key, value in values.items():
            acc[key] = acc.get(key, 0.0) + value
        acc["_steps"] = acc.get("_steps", 0.0) + 1
        acc["_seconds"] = acc.get("_seconds", 0.0) + seconds
        acc["_images"] = acc.get("_images", 0.0) + images

    def _log_row(self, valid: float | None) -> dict[str, Any]:
        acc, self.run.interval = self.run.interval, {}
        steps = acc.pop("_steps", 0.0)
        seconds, images = acc.pop("_seconds", 0.0), acc.pop("_images", 0.0)
        row: dict[str, Any] = {"iteration": self.run.iteration}
        row.update({key: value / steps for key, value in acc.items()} if steps else {})
        row["valid_psnr"] = "" if valid is None else valid
        row["lr"] = self.run.optimizer.param_groups[0]["lr"]
        row["img_per_s"] = images / seconds if seconds > 0 else ""
        row["elapsed_s"] = self.run.elapsed
        self.run.log.append(row)
        return row

    def _validate(self) -> float | None:
        if not self.valid_pairs:
            return None
        score = validate_psnr(self.run.eval_model, self.valid_pairs, self.device)
        self.run.model.train()
        if self.run.best_psnr is None or score > self.run.best_psnr:
            self.run.best_psnr, self.run.best_iteration = score, self.run.iteration
            self._check_weights()
            save_weights(self.out / "weights.pt", self.run.eval_model, self.arch,
                         self.run.iteration, score)
        return score

    def _check_weights(self) -> None:
        for name, value in self.run.model.state_dict().items():
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise diverged(f"weight {name}", math.nan, self.run.iteration)

    def _save(self) -> None:
        from sruq.report.figures import write_training_curve

        self._check_weights()
        if not self.valid_pairs:
            save_weights(self.out / "weights.pt", self.run.eval_model, self.arch,
                         self.run.iteration, None)
        with atomic_path(self.out / "last.pt") as tmp, open(tmp, "wb") as fh:
            torch.save(checkpoint(self.run, self.arch, self.settings), fh)
        write_log(self.out / "log.csv", self.run.log)
        write_training_curve(self.out / "curve.png", self.run.log,
                             f"{self.arch} x{self.run.model.scale}")

    def _out_of_budget(self) -> str | None:
        if self.cfg.iterations is not None and self.run.iteration >= self.cfg.iterations:
            return "iterations"
        if self.cfg.minutes is not None and self.run.elapsed >= 60 * self.cfg.minutes:
            return "minutes"
        return None

    def loop(self, train_set: Dataset, progress: bool) -> str:
        """Train until the budget is spent; returns what stopped the run."""
        run, cfg = self.run, self.cfg
        stopped = self._out_of_budget()
        if stopped:
            return stopped
        batches = batch_loader(train_set, cfg.seed, cfg.batch_size, cfg.num_workers, run.drawn,
                               self.device)
        bar = progress_bar(total=cfg.iterations, initial=run.iteration, disable=not progress,
                           file=sys.stderr, desc=f"train {self.label} x{run.model.scale}",
                           unit="it", dynamic_ncols=True)
        last_row: dict[str, Any] = {}
        with bar:
            while stopped is None:
                started = time.perf_counter()
                lr, hr = next(batches)
                values = self.step(run, self._to_device(lr), self._to_device(hr))
                run.drawn += len(lr)
                seconds = time.perf_counter() - started
                run.elapsed += seconds
                self._accumulate(values, seconds, len(lr))
                stopped = self._out_of_budget()
                it = run.iteration
                valid = None
                if it % cfg.valid_every == 0 or stopped:
                    tick = time.perf_counter()
                    valid = self._validate()
                    run.elapsed += time.perf_counter() - tick
                if it % cfg.log_every == 0 or valid is not None or stopped:
                    last_row = self._log_row(valid)
                    bar.set_postfix(loss=f"{last_row.get('loss', math.nan):.4g}",
                                    psnr="" if valid is None else f"{valid:.2f}")
                if it % cfg.checkpoint_every == 0 or stopped:
                    self._save()
                bar.update(1)
        return stopped


def train_model(
    name: str,
    model_kwargs: Mapping[str, Any],
    scale: int,
    train_set: Dataset,
    valid_pairs: ValidPairs,
    cfg: TrainConfig,
    out_dir: str | Path,
    device: str = "auto",
    progress: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """Train model ``name`` (built with ``model_kwargs`` for ``scale``) on ``train_set``.

    ``label`` is the model's name in the config (default ``name``, the architecture): errors
    name the key ``models.<label>.train`` and the progress lines say ``train <label>``.

    ``train_set`` yields float ``(lr, hr)`` tensor pairs (a :class:`sruq.data.patches.PatchDataset`
    or ``OnTheFlyDataset``); ``valid_pairs`` are uint8 ``HWC`` ``(lr, hr)`` images (HR
    mod-cropped), scored every ``cfg.valid_every`` iterations and at the end.  Continues
    from ``out_dir/last.pt`` when it exists and was written with the same settings and
    data.  Raises :class:`TrainingDiverged` on a NaN or infinite loss.  Returns a summary:
    iterations, best and final validation PSNR, elapsed seconds, what stopped the run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    prefix = f"models.{label or name}.train"
    check_requirements(cfg.loss)
    run = new_run(name, model_kwargs, scale, cfg, dev)
    step = make_step(name, run.model, cfg, dev, prefix)
    settings = run_settings(name, model_kwargs, cfg, train_set)
    if (out / "last.pt").is_file():
        resume(run, out / "last.pt", settings)
    trainer = Trainer(name, run, step, cfg, valid_pairs, out, dev, settings, label)
    stopped = trainer.loop(train_set, progress)
    final = next((r["valid_psnr"] for r in reversed(run.log) if r["valid_psnr"] != ""), None)
    return {
        "arch": name,
        "scale": scale,
        "iterations": run.iteration,
        "stopped_by": stopped,
        "elapsed_s": run.elapsed,
        "best_valid_psnr": run.best_psnr,
        "best_iteration": run.best_iteration,
        "final_valid_psnr": final,
        "device": str(dev),
        "weights": str(out / "weights.pt"),
    }
