"""Model zoo: every method maps LR ``(B, C, h, w)`` in [0, 1] to SR ``(B, C, sh, sw)``.

One file per architecture: the interpolation baselines, SRCNN and its variants, ESRCNN,
FSRCNN, ESPCN, VDSR, SRResNet/SRGAN/SRResBNN, EDSR-baseline, the heteroscedastic
SRResNet, RRDBNet/ESRGAN, LapSRN, and the classical methods sparse coding (Yang et al.)
and FD (bicubic + Wiener deconvolution).  :data:`MODELS` (``registry``) names them all.
Every learned model stores its constructor arguments in ``init_kwargs``, so
``build_model(name, **model.init_kwargs)`` rebuilds it.
"""

from sruq.models.base import SRModel
from sruq.models.discriminator import ADVERSARIAL_MODELS, Discriminator
from sruq.models.registry import MODELS, build_model, has_batch_norm, has_dropout

__all__ = ["ADVERSARIAL_MODELS", "MODELS", "Discriminator", "SRModel", "build_model",
           "has_batch_norm", "has_dropout"]
