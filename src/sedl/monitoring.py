"""Watching a deployed model without labels: drift statistics, alarms, a simulated stream.

In deployment the true labels arrive late or never, so a monitor compares what
it *can* see each day (the model's confidences, the mix of predicted classes,
simple input statistics) with the same quantities on reference data from
before deployment. :func:`psi` and :func:`category_psi` measure how far a
day's distribution has moved, :func:`profile` and :func:`compare` compute all
of the monitor's statistics at once, :func:`alarm_days` turns a statistic into
alarms, and :func:`simulate_stream` plays a deployment whose inputs drift day
by day through any corruption function (e.g. :func:`sedl.shift.corrupt`).
The page that teaches it is :ref:`sec_rel_monitoring`.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from sedl import ood, train
from sedl._checks import (
    check_float,
    check_images,
    check_int,
    check_labels,
    check_module,
    check_seed,
    check_strings,
    check_tensor,
)

__all__ = ["psi", "category_psi", "profile", "compare", "drift_schedule", "simulate_stream",
           "alarm_days", "first_alarm", "plot_stream"]

Corruption = Callable[[torch.Tensor, float, int], torch.Tensor]


def _values(x: object, name: str) -> np.ndarray:
    x = check_tensor(x, name)
    if x.dim() != 1 or x.numel() < 2:
        raise ValueError(f"{name}: expected a 1-d tensor of at least 2 values, got shape {tuple(x.shape)}")
    values = x.detach().cpu().double().numpy()
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: expected finite values, got NaN or infinity")
    return values


def _psi(ref_share: np.ndarray, cur_share: np.ndarray, floor: float) -> float:
    # An empty bin would make the log infinite: give it a tiny share instead.
    r, c = np.maximum(ref_share, floor), np.maximum(cur_share, floor)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(*, reference: torch.Tensor, current: torch.Tensor, bins: int = 10, floor: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference``.

    The reference's quantiles cut the line into ``bins`` bins of equal
    reference mass; with shares ``r_b`` and ``c_b`` in bin ``b``,
    ``PSI = sum_b (c_b - r_b) ln(c_b / r_b)``, a symmetrised Kullback-Leibler
    divergence. It is 0 for identical distributions; the credit-scoring rule of
    thumb reads < 0.1 as stable, 0.1-0.25 as a moderate shift, > 0.25 as a
    significant one. Both samples are keyword-only: the bins come from ``reference``, so
    swapping the two gives another number without any error.

    References
    ----------
    Siddiqi (2006), *Credit risk scorecards: developing and implementing
    intelligent credit scoring*, Wiley (SAS Institute series).

    Examples
    --------
    >>> x = torch.linspace(0, 1, 1000)
    >>> psi(reference=x, current=x)
    0.0
    >>> psi(reference=x, current=x + 0.1) > psi(reference=x, current=x + 0.05) > 0
    True
    """
    ref, cur = _values(reference, "reference"), _values(current, "current")
    bins = check_int(bins, "bins", minimum=2)
    floor = check_float(floor, "floor", minimum=0.0, maximum=0.01, strict_min=True)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))  # inner edges
    # side="right": a value equal to an edge goes to the upper bin, for both samples alike.
    shares = [np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1) / len(v)
              for v in (ref, cur)]
    return _psi(*shares, floor)


def category_psi(*, reference: torch.Tensor, current: torch.Tensor, num_classes: int,
                 floor: float = 1e-4) -> float:
    """:func:`psi` of two samples of class labels in ``0 .. num_classes - 1``.

    >>> category_psi(reference=torch.tensor([0, 1, 0, 1]), current=torch.tensor([1, 0, 1, 0]),
    ...              num_classes=2)
    0.0
    """
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    ref = check_labels(reference, "reference", num_classes=num_classes)
    cur = check_labels(current, "current", num_classes=num_classes)
    floor = check_float(floor, "floor", minimum=0.0, maximum=0.01, strict_min=True)
    for name, x in (("reference", ref), ("current", cur)):
        if x.numel() == 0:
            raise ValueError(f"{name}: expected at least one label, got 0")
    shares = [torch.bincount(x, minlength=num_classes).double().numpy() / len(x) for x in (ref, cur)]
    return _psi(*shares, floor)


def profile(logits: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """What a label-free monitor sees of a batch: each input's ``confidence`` (maximum
    softmax probability), ``prediction`` and ``brightness`` (mean pixel value), all ``(N,)``."""
    check_images(images)
    confidence = ood.msp(logits)
    if len(confidence) != len(images):
        raise ValueError(f"logits: expected {len(images)} rows, one per image, got {len(confidence)}")
    return {"confidence": confidence, "prediction": logits.argmax(dim=1),
            "brightness": images.mean(dim=(1, 2, 3)).double()}


def compare(reference: dict[str, torch.Tensor], current: dict[str, torch.Tensor], *,
            num_classes: int = 10, bins: int = 10, tail: float = 0.1) -> dict[str, float]:
    """The monitor's statistics of one batch against the reference profile.

    ``mean_confidence``; ``low_confidence``, the share of the batch whose confidence is
    below the reference's ``tail`` quantile (the inputs a rule that answers ``1 - tail``
    of the reference would defer: about ``tail`` while nothing changes); and the PSI of
    each part of the :func:`profile`.
    """
    for name, value in (("reference", reference), ("current", current)):
        if not isinstance(value, dict) or set(value) != {"confidence", "prediction", "brightness"}:
            raise ValueError(f"{name}: expected a dict made by profile(), got {value!r:.60}")
        for part, tensor in value.items():
            check_tensor(tensor, f"{name}[{part!r}]")
    tail = check_float(tail, "tail", minimum=0.0, maximum=1.0, strict_min=True)
    cut = torch.quantile(reference["confidence"].double(), tail)
    return {"mean_confidence": float(current["confidence"].mean()),
            "low_confidence": float((current["confidence"].double() < cut).double().mean()),
            "psi_confidence": psi(reference=reference["confidence"], current=current["confidence"],
                                  bins=bins),
            "psi_classes": category_psi(reference=reference["prediction"],
                                        current=current["prediction"], num_classes=num_classes),
            "psi_brightness": psi(reference=reference["brightness"], current=current["brightness"],
                                  bins=bins)}


def drift_schedule(days: int, *, start: int, ramp: int, severity: float) -> np.ndarray:
    """Severity per day: 0 before ``start``, rising linearly to ``severity`` over ``ramp``
    days, then staying there.

    >>> drift_schedule(6, start=2, ramp=2, severity=4).tolist()
    [0.0, 0.0, 2.0, 4.0, 4.0, 4.0]
    """
    days = check_int(days, "days", minimum=1)
    start = check_int(start, "start", minimum=0)
    ramp = check_int(ramp, "ramp", minimum=1)
    severity = check_float(severity, "severity", minimum=0.0)
    rise = (np.arange(days) - start + 1) / ramp
    return severity * np.clip(rise, 0.0, 1.0)


def simulate_stream(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                    corrupt: Corruption, severities: np.ndarray, reference: dict[str, torch.Tensor],
                    day_size: int = 100, seed: int = 0) -> pd.DataFrame:
    """A deployment, one row per day: what the monitor sees, and the accuracy it does not.

    Each day draws ``day_size`` of ``images`` without replacement, corrupts them
    with ``corrupt(images, severity, seed)`` at that day's severity (days at
    severity 0 are left untouched) and runs ``model`` on them.

    Returns
    -------
    pandas.DataFrame
        ``day, severity, accuracy`` and the columns of :func:`compare`.
    """
    check_module(model)
    check_images(images)
    labels = check_labels(labels, n=len(images))
    if not callable(corrupt):
        raise TypeError("corrupt: expected a callable (images, severity, seed), "
                        f"got {type(corrupt).__name__}")
    severities = np.asarray(severities, dtype=float)
    if severities.ndim != 1 or len(severities) == 0 or not np.all(severities >= 0):
        raise ValueError(f"severities: expected a non-empty 1-d array of values >= 0, got {severities!r:.80}")
    day_size = check_int(day_size, "day_size", minimum=2, maximum=len(images))
    seed = check_seed(seed)
    rows = []
    for day, severity in enumerate(severities):
        idx = torch.from_numpy(np.random.default_rng([seed, day]).choice(len(images), day_size,
                                                                          replace=False))
        x = images[idx] if severity == 0 else corrupt(images[idx], float(severity), seed + day)
        logits = train.predict(model, x)
        accuracy = (logits.argmax(1) == labels[idx]).double().mean().item()
        rows.append({"day": day, "severity": severity, "accuracy": accuracy}
                    | compare(reference, profile(logits, x), num_classes=logits.shape[1]))
    return pd.DataFrame(rows)


def alarm_days(values: object, threshold: float, *, patience: int = 1) -> np.ndarray:
    """Days on which the alarm rings: the statistic exceeded ``threshold`` on this day
    and the ``patience - 1`` days before it.

    >>> alarm_days([0.1, 0.3, 0.4, 0.1, 0.5], 0.25, patience=2).tolist()
    [False, False, True, False, False]
    """
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"values: expected a 1-d sequence of numbers, got {values!r:.60}") from None
    if values.ndim != 1:
        raise ValueError(f"values: expected a 1-d sequence, got shape {values.shape}")
    threshold = check_float(threshold, "threshold")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold}")
    patience = check_int(patience, "patience", minimum=1)
    above = values > threshold
    run = np.zeros(len(values), dtype=int)  # length of the current run of days above threshold
    for i, a in enumerate(above):
        run[i] = (run[i - 1] + 1 if i else 1) if a else 0
    return run >= patience


def first_alarm(flags: object) -> int | None:
    """Index of the first ``True`` in ``flags``, or None if the alarm never rang."""
    flags = np.asarray(flags)
    if flags.ndim != 1 or flags.dtype != bool:
        raise ValueError(f"flags: expected a 1-d sequence of bools (from alarm_days), got {flags!r:.60}")
    return int(np.argmax(flags)) if flags.any() else None


def plot_stream(stream: pd.DataFrame, statistics: list[str], *, threshold: float,
                alarm: int | None = None, failure: int | None = None) -> Figure:
    """Accuracy and confidence per day above the monitor's statistics, with the alarm
    day and the day the accuracy really fell marked as vertical lines."""
    statistics = check_strings(statistics, "statistics")
    if not isinstance(stream, pd.DataFrame) or not {"day", "accuracy", "mean_confidence",
                                                    *statistics} <= set(stream):
        raise ValueError(f"stream: expected a DataFrame from simulate_stream() with {statistics}")
    threshold = check_float(threshold, "threshold")
    for name, day in (("alarm", alarm), ("failure", failure)):
        if day is not None:
            check_int(day, name, minimum=0)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 4.6), layout="constrained")
    top.plot(stream["day"], stream["accuracy"], "o-", ms=3, label="accuracy (unseen by the monitor)")
    top.plot(stream["day"], stream["mean_confidence"], "s--", ms=3, label="mean confidence")
    top.set(ylabel="share", ylim=(0, 1.02))
    for name in statistics:
        bottom.plot(stream["day"], stream[name], "o-", ms=3, label=name)
    bottom.axhline(threshold, color="black", linewidth=1, linestyle=":", label="threshold")
    bottom.set(xlabel="day", ylabel="PSI against reference (log scale)", yscale="log")
    for ax in (top, bottom):
        for day, style, text in ((failure, "tab:red", "accuracy fell"), (alarm, "tab:green", "alarm")):
            if day is not None:
                ax.axvline(day, color=style, linewidth=1.5, label=text if ax is top else None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left" if ax is top else "upper left")
    plt.close(fig)  # the caller displays it; keep pyplot's list of open figures empty
    return fig
