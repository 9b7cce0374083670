"""Tests of sedl.style: Gram matrices, losses, feature networks and the optimisation loop."""

import hashlib
import socket

import numpy as np
import pytest
import torch
from torch import nn

from sedl import data, style, style_vgg


def tutorial_gram(features):
    """The PyTorch tutorial's Gram matrix (Jacq 2017): divided by C * H * W instead of H * W."""
    a, b, c, d = features.size()
    flat = features.view(a * b, c * d)
    return flat @ flat.t() / (a * b * c * d)


@pytest.fixture(scope="module")
def net():
    return style.feature_net("random-multiscale", seed=0)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch hub cache, no download switch, and a network that fails loudly if used."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("SEDL_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("SEDL_VGG19_SHA256", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("the network was contacted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    return tmp_path


# --- Gram matrix -------------------------------------------------------------------------

def test_gram_matrix_shape_symmetry_and_psd():
    f = torch.randn(2, 6, 5, 7, generator=torch.Generator().manual_seed(0))
    g = style.gram_matrix(f)
    assert g.shape == (2, 6, 6)
    torch.testing.assert_close(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-10


def test_gram_matrix_normalisation_matches_numpy_and_the_tutorial():
    f = torch.rand(1, 4, 6, 5, generator=torch.Generator().manual_seed(1))
    flat = f.numpy().reshape(4, 30)
    np.testing.assert_allclose(style.gram_matrix(f)[0].numpy(), flat @ flat.T / 30, rtol=1e-5)
    # The tutorial divides by C * H * W as well: ours is C times larger.
    torch.testing.assert_close(style.gram_matrix(f)[0] / 4, tutorial_gram(f))


def test_gram_matrix_gradient_matches_autograd():
    f = torch.randn(2, 3, 4, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(style.gram_matrix, (f,))
    weights = torch.randn(2, 3, 3, dtype=torch.double)
    (style.gram_matrix(f) * weights).sum().backward()
    ours, f.grad = f.grad.clone(), None
    flat = f.reshape(2, 3, 20)
    ((flat @ flat.transpose(1, 2) / 20) * weights).sum().backward()
    torch.testing.assert_close(ours, f.grad)


def test_gram_matrix_does_not_depend_on_image_size():
    f = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(style.gram_matrix(f), style.gram_matrix(f.repeat(1, 1, 3, 2)))


def test_gram_matrix_forgets_positions():
    f = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    shuffled = f.flatten(2)[..., torch.randperm(16)].view(1, 3, 4, 4)
    torch.testing.assert_close(style.gram_matrix(f), style.gram_matrix(shuffled))


# --- Losses ------------------------------------------------------------------------------

def test_losses_are_zero_for_identical_inputs_and_positive_otherwise():
    f = torch.rand(1, 8, 6, 6, generator=torch.Generator().manual_seed(4))
    g = torch.rand(1, 8, 6, 6, generator=torch.Generator().manual_seed(5))
    assert style.style_loss(f, style.gram_matrix(f)).item() == 0.0
    assert style.content_loss(f, f).item() == 0.0
    assert style.style_loss(g, style.gram_matrix(f)).item() > 0
    assert style.content_loss(g, f).item() > 0


def test_style_loss_is_relative_so_it_ignores_the_scale_of_the_features():
    f, g = torch.rand(2, 1, 5, 4, 4, generator=torch.Generator().manual_seed(6))
    a = style.style_loss(g, style.gram_matrix(f))
    b = style.style_loss(10 * g, style.gram_matrix(10 * f))
    torch.testing.assert_close(a, b)


def test_tv_loss_of_a_checkerboard():
    board = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2
    assert style.tv_loss(torch.zeros(1, 3, 4, 4)).item() == 0.0
    assert style.tv_loss(board.float().view(1, 1, 4, 4)).item() == pytest.approx(2.0)


# --- Feature networks --------------------------------------------------------------------

def test_the_weights_are_torchvisions():
    from torchvision.models import VGG19_Weights

    assert style_vgg.VGG19_URL == VGG19_Weights.IMAGENET1K_V1.url


# A digest of the right form for torchvision's file name (vgg19-dcbb9e9d.pth); not the real one.
_SOME_DIGEST = "dcbb9e9d" + "0" * 56


def test_offline_fallback_is_chosen_without_the_network_and_says_why(offline, monkeypatch):
    net = style.feature_net()  # the fixture fails the test if anything tries to connect
    assert net.name == "random-multiscale" and "no full SHA-256" in net.reason
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", _SOME_DIGEST)
    net = style.feature_net()
    assert net.name == "random-multiscale"
    assert "not in the torch hub cache" in net.reason and "downloads are off" in net.reason
    assert style.vgg19_status()[0] is False
    with pytest.raises(RuntimeError, match="not in the torch hub cache"):
        style.feature_net("vgg19")


def test_without_a_full_digest_the_weights_are_never_used(offline, monkeypatch):
    """torchvision's 8 digits do not suffice: no full SHA-256, no VGG-19, even with downloads on."""
    monkeypatch.setenv("SEDL_ALLOW_DOWNLOAD", "1")
    available, reason = style.vgg19_status()
    assert not available and "SEDL_VGG19_SHA256" in reason
    with pytest.raises(RuntimeError, match="no full SHA-256"):
        style.feature_net("vgg19")


def test_the_digest_can_come_from_the_environment(offline, monkeypatch):
    monkeypatch.setenv("SEDL_VGG19_SHA256", _SOME_DIGEST)
    assert style.vgg19_status() == (False, (
        "the ImageNet VGG-19 weights are not in the torch hub cache and downloads are off (set "
        "SEDL_ALLOW_DOWNLOAD=1 to allow one)"))


def test_failed_download_falls_back_with_the_error(offline, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(style_vgg, "VGG19_SHA256", _SOME_DIGEST)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    net = style.feature_net(allow_download=True)
    assert net.name == "random-multiscale" and "could not be downloaded" in net.reason
    monkeypatch.setenv("SEDL_ALLOW_DOWNLOAD", "1")
    assert style.vgg19_status()[0] is True  # allowed by the environment: it would try
    with pytest.raises(RuntimeError, match="Network is unreachable"):
        style.feature_net("vgg19")


def _fake_vgg_file(directory, monkeypatch, *, corrupt=False):
    """A VGG-19 ``features`` checkpoint with random weights, named as torchvision names its file."""
    stages = style_vgg._vgg19_stages()
    convs = [m for _, m in stages]
    state = {f"features.{i}.{p}": v for i, m in enumerate(convs) if isinstance(m, nn.Conv2d)
             for p, v in m.state_dict().items()}
    path = directory / "fake.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if corrupt:
        digest = "0" * 64
    target = directory / "torch-home" / "hub" / "checkpoints" / f"vgg19-{digest[:8]}.pth"
    target.parent.mkdir(parents=True)
    path.rename(target)
    monkeypatch.setattr(style_vgg, "VGG19_URL", f"https://example.invalid/vgg19-{digest[:8]}.pth")
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", digest)
    return state


def test_cached_weights_with_the_right_hash_give_vgg19(offline, monkeypatch):
    state = _fake_vgg_file(offline, monkeypatch)
    net = style.feature_net()
    assert net.name == "vgg19" and "torch hub cache" in net.reason
    torch.testing.assert_close(net.stages.conv1_1.weight, state["features.0.weight"])
    torch.testing.assert_close(net.stages.conv5_4.bias, state["features.34.bias"])
    assert net.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    x = torch.rand(1, 3, 32, 32)
    assert net(x, ["relu4_2"])["relu4_2"].shape == (1, 512, 4, 4)


def test_cached_weights_with_a_wrong_hash_are_refused(offline, monkeypatch):
    _fake_vgg_file(offline, monkeypatch, corrupt=True)
    assert style.feature_net().name == "random-multiscale"
    with pytest.raises(RuntimeError, match="fail the SHA-256 check"):
        style.feature_net("vgg19")


_REAL_CREATE_CONNECTION = socket.create_connection  # before any fixture replaces it


@pytest.fixture
def local_server(offline, monkeypatch):
    """An HTTP server on 127.0.0.1 serving ``offline / "served"``; the only host one may reach."""
    import functools
    import http.server
    import threading

    folder = offline / "served"
    folder.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output quiet
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def local_only(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"the network was contacted: {address}"
        return _REAL_CREATE_CONNECTION(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()



def _serve_checkpoint(folder, base_url, monkeypatch, payload=None, *, sha256=None):
    """A small VGG-like checkpoint served at ``base_url``; the module told to expect its SHA-256."""
    state = payload if payload is not None else {
        "features.0.weight": torch.rand(2, 3, 3, 3), "features.0.bias": torch.rand(2),
        "classifier.0.weight": torch.rand(2, 2)}
    staged = folder / "staged.pth"
    torch.save(state, staged)
    digest = hashlib.sha256(staged.read_bytes()).hexdigest()
    path = folder / f"vgg19-{(sha256 or digest)[:8]}.pth"  # named as torchvision names its files
    staged.rename(path)
    monkeypatch.setattr(style_vgg, "VGG19_URL", f"{base_url}/{path.name}")
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", sha256 or digest)
    return state


def test_a_download_is_checked_cached_and_loaded_safely(local_server, monkeypatch):
    folder, base_url, requests = local_server
    state = _serve_checkpoint(folder, base_url, monkeypatch)
    target = style_vgg._vgg19_file()
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a damaged earlier download")  # replaced, since downloads are allowed
    assert style.vgg19_status(allow_download=True) == (True, (
        f"downloads are allowed, so the VGG-19 weights can be fetched again: the cached file at "
        f"{target} fails the SHA-256 check"))
    got = style_vgg._vgg19_state_dict(True)
    assert set(got) == {"0.weight", "0.bias"} and len(requests) == 1
    torch.testing.assert_close(got["0.weight"], state["features.0.weight"])
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no partial files
    assert style.vgg19_status()[0] is True  # now cached: no download needed, none allowed
    style_vgg._vgg19_state_dict(False)
    assert len(requests) == 1


def test_a_download_with_the_wrong_sha256_is_deleted_with_a_clear_error(local_server, monkeypatch):
    folder, base_url, _ = local_server
    _serve_checkpoint(folder, base_url, monkeypatch, sha256="0" * 64)
    with pytest.raises(RuntimeError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}; it was deleted"):
        style_vgg._vgg19_state_dict(True)
    checkpoints = style_vgg._vgg19_file().parent
    assert not checkpoints.exists() or not list(checkpoints.iterdir())
    net = style.feature_net(allow_download=True)
    assert net.name == "random-multiscale" and "expected 0000" in net.reason


def test_a_cached_file_with_the_right_prefix_but_another_sha256_is_refused(offline, monkeypatch):
    source = offline / "small.pth"
    torch.save({"features.0.bias": torch.rand(2)}, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setattr(style_vgg, "VGG19_URL", f"https://example.invalid/vgg19-{digest[:8]}.pth")
    style_vgg._vgg19_file().parent.mkdir(parents=True)
    source.rename(style_vgg._vgg19_file())  # named as torchvision names it: the prefix is right
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", digest[:8] + "0" * 56)
    available, reason = style.vgg19_status()
    assert not available and "fail the SHA-256 check" in reason and digest in reason
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", digest)
    assert style.vgg19_status()[0] is True
    monkeypatch.setattr(style_vgg, "VGG19_SHA256", None)  # the prefix alone is never enough
    assert style.vgg19_status()[0] is False


def test_a_checkpoint_that_carries_objects_is_not_unpickled(local_server, monkeypatch):
    from pathlib import PurePosixPath

    folder, base_url, _ = local_server
    _serve_checkpoint(folder, base_url, monkeypatch,
                      {"features.0.weight": torch.rand(1), "where": PurePosixPath("x")})
    with pytest.raises(RuntimeError, match="not a plain weights file"):
        style_vgg._vgg19_state_dict(True)


def test_random_networks_are_frozen_and_fixed_by_their_seed():
    a, b = style.feature_net("random-multiscale", seed=1), style.feature_net("random-multiscale", seed=1)
    c = style.feature_net("random-multiscale", seed=2)
    assert torch.equal(a.stages.scale1.conv.weight, b.stages.scale1.conv.weight)
    assert not torch.equal(a.stages.scale1.conv.weight, c.stages.scale1.conv.weight)
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
    v = style.feature_net("random-vgg19", seed=1)
    assert v.layers[:3] == ("conv1_1", "relu1_1", "conv1_2") and v.content_layers == ("relu4_2",)


def test_multiscale_features_halve_in_size_per_scale(net):
    feats = net(torch.rand(1, 3, 64, 96), net.style_layers)
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(64 // s, 96 // s) for s in (1, 2, 4, 8, 16)]


# --- The optimisation loop ---------------------------------------------------------------

@pytest.mark.parametrize("optimizer, factor", [("lbfgs", 0.5), ("adam", 0.9)])
def test_texture_loss_falls(net, optimizer, factor):
    texture = data.image("gravel", size=48)[..., :48, :48]
    out = style.synthesize(texture, net=net, steps=15, optimizer=optimizer)
    assert len(out.history) == 15
    assert out.best["loss"] < factor * out.history["loss"].iloc[0]
    assert out.best["loss"] == out.history["loss"].min()
    assert out.image.shape == (1, 3, 48, 48) and 0 <= out.image.min() and out.image.max() <= 1


def test_transfer_moves_towards_the_style_and_keeps_the_content_close(net):
    g = torch.Generator().manual_seed(8)
    content, style_image = torch.rand(1, 3, 32, 48, generator=g), torch.rand(1, 3, 40, 40, generator=g) ** 3
    out = style.transfer(content, style_image, net=net, steps=20)
    h = out.history
    assert out.image.shape == content.shape and out.network == "random-multiscale"
    assert h["content"].iloc[0] == 0  # starts from the content image
    assert out.best["style"] < 0.5 * h["style"].iloc[0]
    assert out.best["loss"] < h["loss"].iloc[0] and h["seconds"].is_monotonic_increasing
    assert list(h.columns) == ["evaluation", "loss", "content", "style", "tv", "box", "seconds"]


def test_results_are_deterministic(net):
    texture = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    a = style.synthesize(texture, net=net, steps=6, seed=3)
    b = style.synthesize(texture, net=net, steps=6, seed=3)
    c = style.synthesize(texture, net=net, steps=6, seed=4)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)


# --- Bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"content": torch.full((1, 3, 32, 32), 1.5)}, ValueError, r"content: expected values in \[0, 1\]"),
    ({"style": torch.rand(1, 2, 32, 32)}, ValueError, "style: expected 1 or 3 channels"),
    ({"content": torch.rand(2, 3, 32, 32)}, ValueError, "content: expected one image"),
    ({"init": torch.rand(1, 3, 32, 40)}, ValueError, r"init: expected the content's shape \(1, 3, 32, 32\)"),
    ({"init": "zeros"}, ValueError, "init: expected one of"),
    ({"content": torch.rand(1, 3, 16, 64)}, ValueError, r"content: expected height and width >= 32"),
    ({"style_layers": ["relu9_9"]}, ValueError, "style_layers: expected one of"),
    ({"content_layers": "scale4"}, TypeError, "content_layers: expected a non-empty sequence"),
    ({"steps": 0}, ValueError, "steps: expected an int >= 1"),
    ({"optimizer": "sgd"}, ValueError, "optimizer: expected one of"),
    ({"style_weight": -1.0}, ValueError, "style_weight: expected a number >= 0"),
    ({"lr": 0.0}, ValueError, "lr: expected a number > 0"),
    ({"net": nn.Identity()}, TypeError, "net: expected a sedl.style.Features"),
])
def test_transfer_rejects_bad_input(net, kwargs, error, message):
    args = {"content": torch.rand(1, 3, 32, 32), "style": torch.rand(1, 3, 32, 32), "net": net,
            "steps": 1} | kwargs
    with pytest.raises(error, match=message):
        style.transfer(args.pop("content"), args.pop("style"), **args)


def test_other_functions_reject_bad_input(net):
    with pytest.raises(ValueError, match="size: expected a"):
        style.synthesize(torch.rand(1, 3, 32, 32), net=net, size=(4, 4))
    with pytest.raises(ValueError, match="texture: expected values in"):
        style.synthesize(-torch.rand(1, 3, 32, 32), net=net)
    with pytest.raises(ValueError, match="features: expected a float tensor"):
        style.gram_matrix(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match=r"features: expected shape \(1, 2, 3, 3\)"):
        style.content_loss(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 3, 3))
    with pytest.raises(ValueError, match="kind: expected one of"):
        style.feature_net("resnet50")
    with pytest.raises(TypeError, match="allow_download: expected a bool or None"):
        style.feature_net("random-multiscale", allow_download="yes")
    with pytest.raises(ValueError, match="layers: expected one of"):
        net(torch.rand(1, 3, 32, 32), ["conv1_1"])


def test_random_multiscale_builds_the_scales_it_is_asked_for():
    one = style.random_multiscale(0, scales=1, channels=4)
    assert one.style_layers == ("scale1",) and one.content_layers == ("scale1",)
    out = one(torch.rand(1, 3, 32, 32), one.style_layers)
    assert out["scale1"].shape == (1, 4, 32, 32)
    three = style.random_multiscale(0, scales=3, channels=4)
    shapes = [f.shape[-1] for f in three(torch.rand(1, 3, 32, 32), three.style_layers).values()]
    assert shapes == [32, 16, 8]  # each scale halves the image
    same = style.random_multiscale(0, scales=3, channels=4)
    torch.testing.assert_close(same.stages.scale4.conv.weight, three.stages.scale4.conv.weight)
