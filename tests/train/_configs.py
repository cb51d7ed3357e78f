"""The tiny training configuration the trainer tests share (32² pairs, width-4 networks, CPU)."""

from __future__ import annotations

from napari_irdm.train.trainer import TrainConfig


def tiny_config(**kw) -> TrainConfig:
    """A few-second CPU run; ``kw`` replace any field."""
    base = dict(dataset="D2", size_factor=0.001, preset="cpu", size=32, batch_size=2,
                generator=dict(preset="cpu", base_width=4), disc_width=4, n_val=2, log_every=1,
                val_every=1000, ckpt_every=1000, device="cpu", oversample=1)
    base.update(kw)
    return TrainConfig(**base)
