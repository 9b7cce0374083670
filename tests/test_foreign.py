"""Tests of sedl.foreign: shape, range and determinism of the foreign images, bad input."""

import pytest
import torch

from sedl import foreign


@pytest.mark.parametrize("kind", foreign.FOREIGN_KINDS)
def test_foreign_images_follow_the_contract_and_are_deterministic(kind):
    x = foreign.foreign_images(kind, n=6, seed=1)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    assert torch.equal(x, foreign.foreign_images(kind, n=6, seed=1))
    assert not torch.equal(x, foreign.foreign_images(kind, n=6, seed=2))


def test_letters_are_centred_like_mnist():
    x = foreign.foreign_images("letters", n=20)[:, 0]
    rows = (x.sum(2) * torch.arange(28)).sum(1) / x.sum((1, 2))
    assert (rows - 13.5).abs().max() < 1.5
    ink = x > 0
    heights = [int(r.nonzero().max() - r.nonzero().min() + 1) for r in ink.any(2)]
    widths = [int(c.nonzero().max() - c.nonzero().min() + 1) for c in ink.any(1)]
    assert max(max(heights), max(widths)) == 20  # fitted into a 20x20 box, as MNIST digits are


@pytest.mark.parametrize("args, kind, message", [
    ({"kind": "fashion"}, ValueError, "kind: expected one of .*got 'fashion'"),
    ({"kind": 3}, ValueError, "kind: expected one of .*got 3"),
    ({"n": 0}, ValueError, "n: expected an int >= 1, got 0"),
    ({"n": 2.0}, TypeError, "n: expected an int, got float"),
    ({"n": True}, TypeError, "n: expected an int, got bool"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"seed": "0"}, TypeError, "seed: expected an int, got str"),
])
def test_foreign_images_bad_input(args, kind, message):
    args = {"kind": "noise", "n": 2, "seed": 0} | args
    with pytest.raises(kind, match=message):
        foreign.foreign_images(args.pop("kind"), **args)
