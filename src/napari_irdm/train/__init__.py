"""IRDM training library: sources, dataset specs (D1–D6, DA), pairs, trainer and evaluation.

Importing this subpackage loads torch.
"""

from napari_irdm.train._step import LossWeights, gan_step
from napari_irdm.train.evaluate import evaluate, evaluate_iter
from napari_irdm.train.library import HOLDOUT_OFFSET, SPECS, DatasetSpec, get_spec
from napari_irdm.train.pairs import PairBatch, PairOptions, make_batch, make_pair
from napari_irdm.train.sources import SOURCES, get_source
from napari_irdm.train.trainer import PRESETS, TrainConfig, export, load_checkpoint, train, train_iter

__all__ = [
    "HOLDOUT_OFFSET",
    "PRESETS",
    "SOURCES",
    "SPECS",
    "DatasetSpec",
    "LossWeights",
    "PairBatch",
    "PairOptions",
    "TrainConfig",
    "evaluate",
    "evaluate_iter",
    "export",
    "gan_step",
    "get_source",
    "get_spec",
    "load_checkpoint",
    "make_batch",
    "make_pair",
    "train",
    "train_iter",
]
