"""IRDM deep-learning model: U-Net++ generator, conditional discriminator, RaLSGAN losses,
slice-wise inference (:func:`inpaint`) and the shipped-weights registry.

Importing this subpackage loads torch.
"""

from napari_irdm.dl._norm import apply_norm, denormalise, normalise_pair, normalise_slice
from napari_irdm.dl.consistency import apply_data_consistency, consistency_mask, wedge_mask
from napari_irdm.dl.discriminator import Discriminator
from napari_irdm.dl.inference import inpaint, inpaint_iter, predict_slices, prepare_model
from napari_irdm.dl.losses import content_loss, ralsgan_d_loss, ralsgan_g_loss, ssim_index
from napari_irdm.dl.registry import ModelNotFoundError, list_models, load_model, model_info, pick_model, save_model
from napari_irdm.dl.unetpp import PRESETS, UNetPlusPlus, build_generator

__all__ = [
    "PRESETS",
    "Discriminator",
    "ModelNotFoundError",
    "UNetPlusPlus",
    "apply_data_consistency",
    "apply_norm",
    "build_generator",
    "consistency_mask",
    "content_loss",
    "denormalise",
    "inpaint",
    "inpaint_iter",
    "list_models",
    "load_model",
    "model_info",
    "normalise_pair",
    "normalise_slice",
    "pick_model",
    "predict_slices",
    "prepare_model",
    "ralsgan_d_loss",
    "ralsgan_g_loss",
    "ssim_index",
    "save_model",
    "wedge_mask",
]
