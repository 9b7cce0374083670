"""What the comparisons with torchattacks need, shared by the tests and benchmarks/bench_attacks.py."""

import torch


class PositiveLogits(torch.nn.Module):
    """The model with each image's logits shifted to start at 1: the same decisions and margins.

    torchattacks' margin masks the other classes by multiplying with a one-hot vector, which
    reads a negative logit as 0; where every logit is positive it is the paper's margin."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        z = self.net(x)
        return z - z.min(dim=1, keepdim=True).values + 1
