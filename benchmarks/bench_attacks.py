"""FGSM and PGD of sedl.attacks against torchattacks on the same model and batch.

    .venv/bin/python benchmarks/bench_attacks.py

Both libraries attack the book's reference CNN (trained once and cached) on the same
test images with the same hyperparameters; PGD starts at the clean image in both
(no random start), so the two must return the same adversarial images up to floating
point. Each pair is timed interleaved in one run (benchmarks/timing.py) and reported
as the ratio ours/theirs, with the largest absolute difference between the results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import compare, print_rows, reference_batch  # noqa: E402

from sedl import attacks  # noqa: E402

BATCH, STEPS = 256, 10


def _cases(model, x, y):
    import torchattacks

    version = f"torchattacks {torchattacks.__version__}"
    fgsm = torchattacks.FGSM(model, eps=0.3)
    pgd_linf = torchattacks.PGD(model, eps=0.3, alpha=0.01, steps=STEPS, random_start=False)
    pgd_l2 = torchattacks.PGDL2(model, eps=2.0, alpha=0.2, steps=STEPS, random_start=False)
    return [
        ("FGSM (L-inf, eps 0.3)", version,
         lambda: attacks.fgsm(model, x, y, eps=0.3), lambda: fgsm(x, y)),
        (f"PGD (L-inf, eps 0.3, {STEPS} steps)", version,
         lambda: attacks.pgd(model, x, y, eps=0.3, alpha=0.01, steps=STEPS, random_start=False),
         lambda: pgd_linf(x, y)),
        (f"PGD (L2, eps 2, {STEPS} steps)", version,
         lambda: attacks.pgd(model, x, y, eps=2.0, alpha=0.2, steps=STEPS, norm="l2",
                             random_start=False),
         lambda: pgd_l2(x, y)),
    ]


def run(repeats: int = 7) -> list[dict]:
    """One row per attack: timings (ms), ratio ours/theirs and max |ours - theirs|."""
    model, x, y = reference_batch(BATCH)
    rows = []
    for method, reference, ours, theirs in _cases(model, x, y):
        # FGSM is one gradient, ~0.1 s: more repeats make its median as steady as PGD's
        n = repeats * 5 if method.startswith("FGSM") else repeats
        rows.append({"method": method, "reference": reference, **compare(ours, theirs, repeats=n),
                     "max_abs_diff": (ours() - theirs()).abs().max().item()})
    return rows


if __name__ == "__main__":
    print(f"{BATCH} test digits, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print_rows(run())
