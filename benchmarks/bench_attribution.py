"""Grad-CAM against pytorch-grad-cam and Integrated Gradients against Captum.

Same reference model, same batch of test digits, same targets; each pair timed
interleaved in one run (median of repeats) and reported as the ratio ours/theirs,
with the largest absolute difference between the two results.

    .venv/bin/python benchmarks/bench_attribution.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import compare, print_rows, reference_batch  # noqa: E402

from sedl import attribution  # noqa: E402

BATCH, STEPS, LAYER = 32, 50, "features.relu4"


def _grad_cam_row(model, x, y, repeats):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    theirs_cam = GradCAM(model=model, target_layers=[model.features.relu4])
    targets = [ClassifierOutputTarget(int(c)) for c in y]
    ours = attribution.grad_cam(model, x, y, layer=LAYER)[:, 0]
    theirs = torch.from_numpy(theirs_cam(input_tensor=x, targets=targets))
    timing = compare(lambda: attribution.grad_cam(model, x, y, layer=LAYER),
                     lambda: theirs_cam(input_tensor=x, targets=targets), repeats=repeats)
    return {"method": "Grad-CAM", "reference": "pytorch-grad-cam 1.5.7", **timing,
            "max_abs_diff": (ours - theirs).abs().max().item()}


def _integrated_gradients_row(model, x, y, repeats):
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)

    def theirs():
        return ig.attribute(x, baselines=torch.zeros_like(x), target=y, n_steps=STEPS,
                            method="riemann_right")

    ours = attribution.integrated_gradients(model, x, y, steps=STEPS)
    timing = compare(lambda: attribution.integrated_gradients(model, x, y, steps=STEPS), theirs,
                     repeats=repeats)
    return {"method": "Integrated Gradients", "reference": "captum 0.9.0", **timing,
            "max_abs_diff": (ours - theirs()).abs().max().item()}


def run(repeats: int = 7) -> list[dict]:
    """One row per method: timings (ms), ratio ours/theirs and max |ours - theirs|."""
    model, x, y = reference_batch(BATCH)
    return [_grad_cam_row(model, x, y, repeats), _integrated_gradients_row(model, x, y, repeats)]


if __name__ == "__main__":
    print_rows(run())
