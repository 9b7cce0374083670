"""The one check of a batch of logits that every module scoring them shares."""

from __future__ import annotations

import torch

from sedl._checks import check_tensor


def check_logits(logits: object, name: str = "logits") -> torch.Tensor:
    """Finite floating-point logits ``(N, K)`` with ``K >= 2``, as a detached float64 CPU tensor.

    float64, because the softmax of a confident model saturates at 1.0 in float32 and the
    scores built on it (:func:`sedl.ood.msp`, a temperature fit) would tie; finite, because
    one infinite logit makes the softmax NaN without a word.
    """
    logits = check_tensor(logits, name)
    if logits.dim() != 2 or not logits.is_floating_point() or logits.shape[1] < 2:
        raise ValueError(f"{name}: expected a floating-point tensor (N, K) with K >= 2, got "
                         f"shape {tuple(logits.shape)} and dtype {logits.dtype}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name}: expected finite values, got NaN or infinity")
    return logits.detach().cpu().double()
