"""The order in which training windows are drawn: a function of (seed, epoch) alone.

PyTorch's default shuffling draws each epoch's permutation from the global random
generator, so the order of epoch 7 depends on everything that consumed random numbers
before it. :class:`EpochShuffleSampler` instead derives epoch ``e``'s permutation from
``(seed, e)``, which gives three things at once:

- resuming: after a restart, epoch ``e`` visits the windows in the same order, and a
  checkpoint taken after ``k`` batches skips exactly those (``skip_next``);
- data parallelism: every process computes the same permutation and takes its share
  (``rank::world_size``, padded like :class:`torch.utils.data.DistributedSampler`), so the
  union of the processes' ``b``-th local batches is the ``b``-th global batch of a
  one-process run with the same global batch size;
- reproducibility independent of the global random state.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Permutation of ``range(n)`` for one epoch, from ``(seed, epoch)`` only.

    Parameters
    ----------
    n : int
        Number of items.
    seed : int
        Run seed (any non-negative int).
    epoch : int
        Epoch index, from 0.

    Returns
    -------
    perm : torch.Tensor of int64, shape (n,)

    Examples
    --------
    >>> epoch_permutation(5, seed=0, epoch=0).tolist() == epoch_permutation(5, 0, 0).tolist()
    True
    """
    state = np.random.SeedSequence([int(seed) % 2**63, int(epoch)]).generate_state(2, np.uint32)
    generator = torch.Generator()
    generator.manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(n, generator=generator)


class EpochShuffleSampler(Sampler[int]):
    """Indices of one process's share of each epoch, in a per-epoch seeded order.

    Parameters
    ----------
    n : int
        Number of training windows.
    seed : int
        Seed of the permutations.
    shuffle : bool
        Permute (True) or keep ``range(n)`` (False).
    rank, world_size : int
        This process's rank and the number of processes (1 without data parallelism).
        With several processes the epoch is padded to a multiple of ``world_size`` by
        repeating its first indices, as :class:`~torch.utils.data.DistributedSampler` does,
        and process ``rank`` takes every ``world_size``-th index from ``rank``.

    Attributes
    ----------
    epoch : int
        Epoch whose permutation the next iteration yields (set with :meth:`set_epoch`).

    Examples
    --------
    >>> s0 = EpochShuffleSampler(10, seed=1, rank=0, world_size=2)
    >>> s1 = EpochShuffleSampler(10, seed=1, rank=1, world_size=2)
    >>> one = EpochShuffleSampler(10, seed=1)
    >>> sorted(list(s0)[:2] + list(s1)[:2]) == sorted(list(one)[:4])
    True
    """

    def __init__(
        self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} and world_size={world_size} are inconsistent.")
        self.n = int(n)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._skip = 0

    @property
    def n_local(self) -> int:
        """Indices this process draws per epoch (the padded epoch over ``world_size``)."""
        return -(-self.n // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of epoch ``epoch`` (from 0) for the next iteration."""
        self.epoch = int(epoch)

    def skip_next(self, n_items: int) -> None:
        """Leave out the first ``n_items`` local indices of the next iteration only."""
        self._skip = int(n_items)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            order = epoch_permutation(self.n, self.seed, self.epoch)
        else:
            order = torch.arange(self.n)
        total = self.n_local * self.world_size
        if total > self.n:  # pad like DistributedSampler (wrapping around if needed)
            reps = -(-total // self.n)
            order = order.repeat(reps)[:total]
        local = order[self.rank :: self.world_size]
        start, self._skip = self._skip, 0
        return iter(local[start:].tolist())

    def __len__(self) -> int:
        return self.n_local
