"""The order in which the trainer draws training items: a pure function of the seed.

Every epoch is a fresh permutation of the set computed from ``(seed, epoch)`` alone, and
the sampler's position is the number of items drawn so far, so a resumed run draws
exactly the items the uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class EpochItems(Dataset):
    """Items addressed as ``(epoch, index)``, so random datasets (``set_epoch``) draw the
    right epoch also inside DataLoader workers."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if hasattr(self.base, "set_epoch") and getattr(self.base, "epoch", None) != epoch:
            self.base.set_epoch(epoch)
        return self.base[index]


def epoch_permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of epoch ``epoch``: a pure function of ``(seed, epoch)``."""
    key = int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)
    return torch.randperm(size, generator=torch.Generator().manual_seed(key)).tolist()


def epoch_batches(size: int, seed: int, batch_size: int, drawn: int
                  ) -> Iterator[list[tuple[int, int]]]:
    """Infinite batches of ``(epoch, index)`` keys, reshuffled every epoch, starting after
    ``drawn`` samples (the saved sampler position)."""
    epoch, position = divmod(drawn, size)
    order = epoch_permutation(size, seed, epoch)
    while True:
        batch = []
        for _ in range(batch_size):
            if position == size:
                epoch, position = epoch + 1, 0
                order = epoch_permutation(size, seed, epoch)
            batch.append((epoch, order[position]))
            position += 1
        yield batch


def batch_loader(
    train_set: Dataset, seed: int, batch_size: int, num_workers: int, drawn: int,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless ``(lr, hr)`` batches of ``train_set`` in the order of :func:`epoch_batches`,
    continuing after ``drawn`` items; ``ValueError`` if the set is empty."""
    size = len(train_set)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("train_set is empty")
    loader = DataLoader(
        EpochItems(train_set),
        batch_sampler=epoch_batches(size, seed, batch_size, drawn),  # type: ignore[arg-type]
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched
    )
    return iter(loader)
