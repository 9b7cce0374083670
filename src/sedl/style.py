"""Neural style transfer: Gram matrices, the losses, the optimisation loop and the feature networks.

The chapter :ref:`sec_style_transfer` teaches the method; this module gathers, under
one import, what its pages reuse: the losses (:mod:`sedl.style_losses`), the loop
(:mod:`sedl.style_optim`: :func:`transfer` and :func:`synthesize`, which return the
image and the loss history) and the feature networks it optimises through
(:mod:`sedl.style_nets`, ``style.feature_net``).
"""

from __future__ import annotations

from sedl.style_losses import content_loss, gram_matrix, style_loss, tv_loss
from sedl.style_nets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NETWORKS,
    Features,
    as_rgb,
    feature_net,
    random_multiscale,
    vgg19_status,
)
from sedl.style_optim import Result, synthesize, transfer

__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss", "transfer", "synthesize", "Result",
           # re-exported from sedl.style_nets
           "Features", "feature_net", "random_multiscale", "vgg19_status", "as_rgb", "NETWORKS",
           "IMAGENET_MEAN", "IMAGENET_STD"]
