"""Time per optimisation step: sedl.style's loop against the PyTorch tutorial's algorithm.

    .venv/bin/python benchmarks/bench_style.py     # 256 x 256, 20 steps, 3 repeats

"Theirs" is a straightforward implementation, written here, of the algorithm of the
PyTorch tutorial "Neural Transfer Using PyTorch" (Jacq, 2017): loss modules inserted
into a copy of VGG-19's ``features`` after conv_1 ... conv_5 (style) and conv_4
(content), the network cut after the last loss, default L-BFGS, and the image clamped
inside the closure. "Ours" is :func:`sedl.style.transfer` with the same layers, the
same network weights and the same image size. Both count one *step* as one
evaluation of the loss and its gradient; the two are timed alternately
(benchmarks/timing.py) and the median time per step is reported with the ratio
ours / theirs. That both compute the same statistics is checked on the Gram
matrices: the tutorial's divides by C*H*W, ours by H*W.

The VGG-19 weights are torchvision's ImageNet weights when they are available (see
:func:`sedl.style.vgg19_status`) and random otherwise: the time per step does not depend
on the values of the weights. Not part of the test suite.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import compare, print_rows  # noqa: E402

from sedl import data, repro, style, style_vgg  # noqa: E402

SIZE, STEPS = 256, 20  # 20 evaluations: one full L-BFGS step of the tutorial

TUTORIAL_CONTENT, TUTORIAL_STYLE = ["conv_4"], ["conv_1", "conv_2", "conv_3", "conv_4", "conv_5"]
# The same layers in sedl.style's names: conv_4 is the second convolution of block 2.
OUR_CONTENT, OUR_STYLE = ["conv2_2"], ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]


# --- The tutorial's algorithm -------------------------------------------------------------

class _Normalization(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.tensor(style.IMAGENET_MEAN).view(-1, 1, 1)
        self.std = torch.tensor(style.IMAGENET_STD).view(-1, 1, 1)

    def forward(self, image):
        return (image - self.mean) / self.std


def _tutorial_gram(x):
    a, b, c, d = x.size()
    flat = x.view(a * b, c * d)
    return flat @ flat.t() / (a * b * c * d)


class _ContentLoss(nn.Module):
    """Transparent layer: remembers the MSE to the content's features, passes its input on."""

    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_features):
        super().__init__()
        self.target = _tutorial_gram(target_features).detach()

    def forward(self, x):
        self.loss = F.mse_loss(_tutorial_gram(x), self.target)
        return x


def _tutorial_model(cnn, content, style_image):
    model, content_losses, style_losses, i = nn.Sequential(_Normalization()), [], [], 0
    for layer in copy.deepcopy(cnn).children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name, layer = f"relu_{i}", nn.ReLU(inplace=False)
        else:
            name = f"pool_{i}"
        model.add_module(name, layer)
        if name in TUTORIAL_CONTENT:
            content_losses.append(_ContentLoss(model(content)))
            model.add_module(f"content_loss_{i}", content_losses[-1])
        if name in TUTORIAL_STYLE:
            style_losses.append(_StyleLoss(model(style_image)))
            model.add_module(f"style_loss_{i}", style_losses[-1])
    last = max(j for j, m in enumerate(model) if isinstance(m, (_ContentLoss, _StyleLoss)))
    return model[:last + 1], content_losses, style_losses


def tutorial_transfer(cnn, content, style_image, *, steps, style_weight=1e6, content_weight=1.0):
    """The tutorial's run_style_transfer, stopping after ``steps`` closure calls."""
    model, content_losses, style_losses = _tutorial_model(cnn, content, style_image)
    model.eval().requires_grad_(False)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    run = [0]
    while run[0] < steps:
        def closure():
            with torch.no_grad():
                image.clamp_(0, 1)
            optimizer.zero_grad()
            model(image)
            style_score = style_weight * sum(s.loss for s in style_losses)
            content_score = content_weight * sum(c.loss for c in content_losses)
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            return loss
        optimizer.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
    return image, run[0]


# --- Timing -------------------------------------------------------------------------------

def _networks():
    """Our VGG-19 feature network and torchvision's ``vgg19().features`` with the same weights."""
    available, _ = style.vgg19_status()
    ours = style.feature_net("vgg19" if available else "random-vgg19", seed=0)
    cnn = torchvision.models.vgg19().features
    if available:  # the same trained weights in the tutorial's network
        names = [n for n, _ in style_vgg._vgg19_stages()]
        cnn.load_state_dict({f"{names.index(k.split('.')[0])}.{k.split('.')[1]}": v
                             for k, v in ours.stages.state_dict().items()})
    else:  # the same random weights
        for module, (_, layer) in zip(cnn.children(), ours.stages.named_children(), strict=False):
            if isinstance(module, nn.Conv2d):
                module.load_state_dict(layer.state_dict())
    return ours, cnn.eval(), "ImageNet" if available else "random"


def _gram_difference(net, image) -> float:
    """Largest difference between our Gram matrices / C and the tutorial's, over the style layers."""
    features = net(image, OUR_STYLE)
    return max((style.gram_matrix(f)[0] / f.shape[1] - _tutorial_gram(f)).abs().max().item()
               for f in features.values())


def run(repeats: int = 3) -> list[dict]:
    """One row: milliseconds per evaluation of the loss and its gradient, ours and the tutorial's."""
    repro.set_seed(0)
    content = data.image("chelsea", size=SIZE)[..., :SIZE, :SIZE].contiguous()
    style_image = data.image("immunohistochemistry", size=SIZE)
    ours_net, cnn, weights = _networks()

    def ours():
        return len(style.transfer(content, style_image, net=ours_net, content_layers=OUR_CONTENT,
                                  style_layers=OUR_STYLE, steps=STEPS).history)

    def theirs():
        return tutorial_transfer(cnn, content, style_image, steps=STEPS)[1]

    timing = compare(ours, theirs, repeats=repeats, units=float)
    return [{"method": f"style transfer, one L-BFGS evaluation ({SIZE} x {SIZE}, VGG-19, {weights} weights)",
             "reference": "PyTorch tutorial's algorithm", **timing,
             "max_abs_diff": _gram_difference(ours_net, style_image)}]


if __name__ == "__main__":
    print_rows(run())
