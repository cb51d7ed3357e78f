"""Which ground truths each training step sees: a pure function of ``(seed, step)``."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import torch

from napari_irdm.train.pairs import draw_images

__all__ = ["Schedule", "image_stream"]


class Schedule:
    """Deterministic order of training samples: step → indices (per-epoch permutations).

    Step ``s`` takes positions ``s·B … s·B+B−1`` of a per-epoch permutation seeded by
    ``(seed, epoch)``.
    """

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.batch, self.seed = n, batch, seed
        self._epoch = -1
        self._perm = np.arange(0)

    def perm(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, 0xE90C, epoch]).permutation(self.n)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> list[int]:
        out = []
        for p in range(step * self.batch, (step + 1) * self.batch):
            e, r = divmod(p, self.n)
            out.append(int(self.perm(e)[r]))
        return out


class _StepImages(torch.utils.data.Dataset):
    """Map-style dataset: item ``step`` → (step, indices, ground truths); used by worker processes."""

    def __init__(self, spec, schedule: Schedule, size: int, options=None):
        self.spec, self.schedule, self.size, self.options = spec, schedule, size, options

    def __len__(self) -> int:  # pragma: no cover - the sampler decides the length
        return 2**62

    def __getitem__(self, step: int):
        idx = self.schedule.indices(int(step))
        return int(step), np.asarray(idx), draw_images(self.spec, idx, self.size, options=self.options)


def image_stream(spec, schedule: Schedule, size: int, first: int, horizon: int, *, workers: int = 0,
                 seed: int = 0, options=None) -> Generator[tuple[int, list[int], np.ndarray], None, None]:
    """``(step, indices, ground truths)`` for steps ``first … horizon − 1``, in order.

    ``options`` (:class:`~napari_irdm.train.pairs.PairOptions`) with ``exceed_fov > 0``: the
    truths are drawn as :func:`~napari_irdm.train.pairs.draw_images` draws them for it.

    With ``workers > 0`` the images are drawn ahead by that many processes (a ``DataLoader``
    given its own generator, so the process's global random state is not touched).
    """
    ds = _StepImages(spec, schedule, size, options)
    if workers <= 0:
        for s in range(first, horizon):
            yield ds[s]
        return
    loader = torch.utils.data.DataLoader(
        ds, sampler=range(first, horizon), batch_size=None, num_workers=workers, prefetch_factor=4,
        persistent_workers=False, generator=torch.Generator().manual_seed(int(seed) + first),
    )
    for s, idx, imgs in loader:
        yield int(s), [int(i) for i in np.asarray(idx)], np.asarray(imgs)
