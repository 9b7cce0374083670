"""Tests of sedl.style_mobilenet: the dequantized MobileNet-v2 style encoder as a feature network."""

import pytest
import torch

from sedl import style, style_mobilenet


@pytest.fixture(scope="module")
def net():
    return style_mobilenet.mobilenet_features()


def test_the_layers_have_the_recorded_channels_and_strides(net):
    x = torch.rand(1, 3, 64, 96)
    feats = net(x, net.style_layers)
    for name, (_, channels, stride) in style_mobilenet.MOBILENET_LAYERS.items():
        assert feats[name].shape == (1, channels, 64 // stride, 96 // stride)
    assert not any(p.requires_grad for p in net.parameters())


def test_it_serves_style_transfer_and_the_content_stays_close(net):
    content, painting = torch.rand(1, 3, 48, 48) * 0.5, torch.rand(1, 3, 48, 48)
    run = style.transfer(content, painting, net=net, steps=10)
    first, best = run.history.iloc[0], run.best
    assert run.image.shape == content.shape and best["loss"] < first["loss"]


def test_feature_net_can_fall_back_to_it(monkeypatch):
    monkeypatch.delenv("SEDL_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("SEDL_VGG19_SHA256", raising=False)
    net = style.feature_net(fallback="mobilenet")
    assert net.name == "mobilenet" and "MobileNet-v2" in net.reason
    assert style.feature_net("mobilenet").name == "mobilenet"


@pytest.mark.parametrize("reason", [3, None])
def test_mobilenet_features_bad_input(reason):
    with pytest.raises(TypeError, match="reason"):
        style_mobilenet.mobilenet_features(reason=reason)
