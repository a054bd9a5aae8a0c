"""Model definitions (PyTorch).  Importing this package imports torch and registers every family.

Use :func:`create_model` (``create_model("adain_unet", width=32)``) and :func:`list_models`.
"""

from .contract import MODEL_KINDS, TranslationModel, contract_problems, model_inputs
from .normalization import BandNormalization
from .registry import (ModelEntry, create_model, list_models, make_config, model_entry, register_model,
                       unregister_model)

# Family modules register their models on import; add new families here.
from . import adain  # noqa: E402,F401  (adain_unet)
from . import pix2pix  # noqa: E402,F401  (pix2pix_unet)
from . import resnet_generator  # noqa: E402,F401  (cyclegan_resnet)
from . import spade  # noqa: E402,F401  (spade_generator)
from . import spectral  # noqa: E402,F401  (spectral_mlp)

__all__ = ["ModelEntry", "create_model", "list_models", "make_config", "model_entry", "register_model",
           "unregister_model", "MODEL_KINDS", "TranslationModel", "contract_problems", "model_inputs",
           "BandNormalization"]
