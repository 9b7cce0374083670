"""The attacks of sedl against torchattacks on the same model and batch.

    .venv/bin/python benchmarks/bench_attacks.py

Both libraries attack the book's reference CNN (trained once and cached) on the same
test images with the same hyperparameters, so the two must return the same adversarial
images up to floating point: PGD starts at the clean image in both (no random start),
Square draws from the same seed, FAB-T draws nothing, C&W runs at a fixed c on logits
shifted to be positive (where torchattacks' margin is the paper's), and DeepFool runs
without overshoot (torchattacks overshoots each step, the paper the total). Each pair is
timed interleaved in one run (benchmarks/timing.py) and reported as the ratio ours/theirs,
with the largest absolute difference between the results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import compare, print_rows, reference_batch  # noqa: E402

from sedl import attacks, fab, minimal, square  # noqa: E402
from tests.torchattacks_compat import PositiveLogits  # noqa: E402

BATCH, STEPS = 256, 10
SMALL = 32  # FAB-T (nine targets), C&W and DeepFool (torchattacks: one image at a time)


def _cases(model, x, y):
    import torchattacks

    version = f"torchattacks {torchattacks.__version__}"
    fgsm = torchattacks.FGSM(model, eps=0.3)
    pgd_linf = torchattacks.PGD(model, eps=0.3, alpha=0.01, steps=STEPS, random_start=False)
    pgd_l2 = torchattacks.PGDL2(model, eps=2.0, alpha=0.2, steps=STEPS, random_start=False)
    xs, ys = x[:SMALL], y[:SMALL]
    fab_t = torchattacks.FAB(model, eps=0.3, steps=STEPS, multi_targeted=True, n_classes=10, n_restarts=1)
    sq = torchattacks.Square(model, eps=0.3, n_queries=100, seed=0)
    positive = PositiveLogits(model).eval()
    cw = torchattacks.CW(positive, c=1.0, kappa=0, steps=50, lr=0.05)
    deepfool = torchattacks.DeepFool(model, steps=50, overshoot=0.0)
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
        (f"FAB-T (L-inf, eps 0.3, {STEPS} steps, 9 targets, {SMALL} digits)", version,
         lambda: fab.fab_targeted(model, xs, ys, eps=0.3, steps=STEPS), lambda: fab_t(xs, ys)),
        ("Square (L-inf, eps 0.3, 100 queries)", version,
         lambda: square.square(model, x, y, eps=0.3, queries=100, generator=torch.Generator().manual_seed(0)),
         lambda: sq(x, y)),
        (f"C&W (L2, c 1, 50 steps, {SMALL} digits)", version,
         lambda: minimal.cw(positive, xs, ys, c=1.0, steps=50, lr=0.05, squeeze=1.0), lambda: cw(xs, ys)),
        (f"DeepFool (L2, 50 steps, no overshoot, {SMALL} digits)", version,
         lambda: minimal.deepfool(model, xs, ys, steps=50, overshoot=0.0), lambda: deepfool(xs, ys)),
    ]


def run(repeats: int = 7) -> list[dict]:
    """One row per attack: timings (ms), ratio ours/theirs and max |ours - theirs|."""
    model, x, y = reference_batch(BATCH)
    rows = []
    for method, reference, ours, theirs in _cases(model, x, y):
        # FGSM is one gradient, ~0.1 s: more repeats make its median as steady as PGD's
        n = repeats * 5 if method.startswith("FGSM") else repeats if method.startswith("PGD") else 3
        rows.append({"method": method, "reference": reference, **compare(ours, theirs, repeats=n),
                     "max_abs_diff": (ours() - theirs()).abs().max().item()})
    return rows


if __name__ == "__main__":
    print(f"{BATCH} test digits, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print_rows(run())
