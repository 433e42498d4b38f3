"""Model zoo: every method maps LR ``(B, C, h, w)`` in [0, 1] to SR ``(B, C, sh, sw)``.

Importing this package registers every model family (interpolation baselines, SRCNN and
its variants, ESRCNN, FSRCNN, ESPCN, VDSR, SRResNet/SRGAN/SRResBNN, EDSR-baseline, the
heteroscedastic SRResNet, RRDBNet/ESRGAN, LapSRN, and the classical methods sparse coding
and FD).  Every learned model stores its constructor arguments in ``init_kwargs``, so
``build_model(name, **model.init_kwargs)`` rebuilds it.
"""

from sruq.models import (  # noqa: F401  (importing registers the models)
    edsr,
    espcn,
    fsrcnn,
    hetero,
    interpolation,
    lapsrn,
    rrdbnet,
    sparse_coding,
    srcnn,
    srcnn_variant,
    srresnet,
    vdsr,
    wiener,
)
from sruq.models.base import SRModel
from sruq.models.discriminator import ADVERSARIAL_MODELS, Discriminator
from sruq.models.registry import MODELS, build_model, has_batch_norm, has_dropout, register

__all__ = ["ADVERSARIAL_MODELS", "MODELS", "Discriminator", "SRModel", "build_model",
           "has_batch_norm", "has_dropout", "register"]
