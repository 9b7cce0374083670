import dataclasses
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from sedl import data, featvis, models, wheels


@pytest.fixture(scope="module", autouse=True)
def _no_downloads(tmp_path_factory):
    """The MTCNN wheel comes from <sys.prefix>/wheels (make setup); a test never downloads it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEDL_DATA", str(tmp_path_factory.mktemp("sedl-data")))
        patch.setenv("SEDL_OFFLINE", "1")
        yield


def model():
    return models.build(seed=0, width=8, hidden=32).eval()


@pytest.mark.parametrize("param", ["pixel", "fourier"])
@pytest.mark.parametrize("objective", [featvis.class_logit(3), featvis.channel("features.relu4", 5),
                                       featvis.channel("embedding.fc", [1, 2])])
def test_objective_rises_within_a_few_steps(param, objective):
    net = model()
    images, history = featvis.visualize(net, objective, batch=2, param=param, steps=6, lr=0.1,
                                        transform=False, seed=0)
    assert len(history) == 6 and history[-1] > history[0]
    with torch.no_grad():
        assert objective(net, images).mean() > history[0]
    assert images.shape == (2, 1, 28, 28) and 0 <= images.min() and images.max() <= 1


def test_visualize_is_seeded_and_leaves_the_model_alone():
    net = models.build(seed=0, width=8, hidden=32).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    kwargs = {"steps": 3, "tv": 0.5, "l1": 0.5}
    a, ha = featvis.visualize(net, featvis.class_logit([0, 9]), batch=2, seed=4, **kwargs)
    b, hb = featvis.visualize(net, featvis.class_logit([0, 9]), batch=2, seed=4, **kwargs)
    c, _ = featvis.visualize(net, featvis.class_logit([0, 9]), batch=2, seed=5, **kwargs)
    assert torch.equal(a, b) and ha == hb and not torch.equal(a, c)
    assert net.training and all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


def test_class_objective_selects_one_logit_per_image():
    net, x = model(), torch.rand(3, 1, 28, 28)
    logits = net(x)
    torch.testing.assert_close(featvis.class_logit([2, 0, 7])(net, x), logits[[0, 1, 2], [2, 0, 7]])
    torch.testing.assert_close(featvis.class_logit(4)(net, x), logits[:, 4])
    acts = featvis.channel("features.relu1", 6)(net, x)
    torch.testing.assert_close(acts, net.features[:3](net.normalize(x))[:, 6].mean((1, 2)))


def test_parameterisations_give_images_in_unit_range():
    for make in (featvis.pixel_image, featvis.fourier_image):
        params, image_fn = make((3, 16, 20), batch=2, sd=1.0, generator=torch.Generator().manual_seed(0))
        image = image_fn()
        assert params.requires_grad and image.shape == (2, 3, 16, 20)
        assert 0 < image.min() and image.max() < 1
    # Gradient steps in Fourier space are scaled towards low frequencies.
    params, image_fn = featvis.fourier_image((1, 28, 28))
    image_fn().sum().backward()
    assert params.grad.abs().sum() > 0


def test_random_affine_identity_and_total_variation():
    x = torch.rand(2, 1, 28, 28)
    same = featvis.random_affine(x, shift=0, scales=(1.0, 1.0), degrees=0.0)
    torch.testing.assert_close(same, x)
    moved = featvis.random_affine(x, generator=torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and not torch.allclose(moved, x)
    assert featvis.total_variation(torch.ones(2, 1, 5, 5)).eq(0).all()
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0
    assert featvis.total_variation(stripes).item() == 1.0  # every horizontal step changes by 1


def test_filter_images_maps_zero_to_grey():
    w = torch.randn(4, 3, 3, 3)
    images = featvis.filter_images(w)
    assert images.shape == w.shape and images.min() >= 0 and images.max() <= 1
    assert torch.allclose(featvis.filter_images(torch.zeros(1, 1, 3, 3)), torch.full((1, 1, 3, 3), 0.5))
    with pytest.raises(ValueError, match=r"weight: expected a conv weight of shape \(K, C, h, w\)"):
        featvis.filter_images(torch.zeros(3, 3))


@pytest.mark.parametrize("net, first", [("pnet", (10, 3, 3, 3)), ("onet", (32, 3, 3, 3))])
def test_mtcnn_weights_come_from_the_wheel(net, first):
    state = featvis.mtcnn_state_dict(net)
    assert tuple(state["conv1.weight"].shape) == first
    assert state["conv1.weight"].abs().sum() > 0


def test_mtcnn_missing_wheel_and_wrong_file(tmp_path, monkeypatch):
    explicit = re.escape(f"pip download --no-deps --dest {tmp_path} facenet-pytorch==2.6.0")
    with pytest.raises(FileNotFoundError, match=f"wheel: expected the file .*{explicit}"):
        featvis.mtcnn_state_dict("pnet", wheel=tmp_path / "missing.whl")
    fake = tmp_path / featvis.MTCNN_WHEEL
    buffer = io.BytesIO()
    torch.save({"conv1.weight": torch.zeros(10, 3, 3, 3)}, buffer)
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("facenet_pytorch/data/pnet.pt", buffer.getvalue())
    entry = wheels.WHEELS["facenet-pytorch"]
    with pytest.raises(data.ChecksumError, match=f"whl: expected SHA-256 {entry.sha256}"):
        featvis.mtcnn_state_dict("pnet", wheel=fake)
    # Past the wheel's check (patched to the fake's digest), the file's own digest refuses it.
    own = hashlib.sha256(fake.read_bytes()).hexdigest()
    monkeypatch.setitem(wheels.WHEELS, "facenet-pytorch", dataclasses.replace(entry, sha256=own))
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    with pytest.raises(data.ChecksumError, match=f"pnet.pt: expected SHA-256 a2a71925.*, got {digest}"):
        featvis.mtcnn_state_dict("pnet", wheel=fake)
    with pytest.raises(ValueError, match=r"net: expected one of \['onet', 'pnet', 'rnet'\], got 'xnet'"):
        featvis.mtcnn_state_dict("xnet")
    assert (Path(sys.prefix) / "wheels" / featvis.MTCNN_WHEEL).is_file()


def test_mtcnn_without_any_wheel_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # as on Colab: no <venv>/wheels
    command = f"python -m pip download --no-deps --dest {wheels.data_dir()} facenet-pytorch==2.6.0"
    with pytest.raises(FileNotFoundError, match=f"MTCNN.*SEDL_OFFLINE=1.*{re.escape(command)}"):
        featvis.mtcnn_state_dict("rnet")


def _no_hooks_left(net):
    return sum(len(m._forward_hooks) for m in net.modules()) == 0


@pytest.mark.parametrize("k, error, fragment", [
    ("3", TypeError, "k: expected an int or a non-empty list of ints"),
    ([], TypeError, "k: expected an int or a non-empty list of ints"),
    (-1, ValueError, "k: expected an int >= 0, got -1"),
    ([1, True], TypeError, "k: expected an int, got bool"),
    (1.0, TypeError, "k: expected an int or a non-empty list of ints"),
])
def test_class_logit_bad_input(k, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.class_logit(k)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda m: featvis.visualize(m, featvis.class_logit(10), steps=1), ValueError,
     "k: expected an int <= 9, got 10"),
    (lambda m: featvis.visualize(m, featvis.class_logit([1, 2, 3]), batch=2, steps=1), ValueError,
     r"k: expected 1 or 2 indices \(one per image\), got 3"),
])
def test_class_logit_bad_input_when_called(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call(model())


@pytest.mark.parametrize("arguments, error, fragment", [
    (("features.relu4", "1"), TypeError, "index: expected an int or a non-empty list of ints"),
    (("features.relu4", -2), ValueError, "index: expected an int >= 0, got -2"),
    ((4, 1), TypeError, "layer: expected a layer name"),
    (("", 1), TypeError, "layer: expected a layer name"),
])
def test_channel_bad_input(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.channel(*arguments)


@pytest.mark.parametrize("objective, fragment", [
    (featvis.channel("features.relu4", 16), "index: expected an int <= 15, got 16"),
    (featvis.channel("features.conv9", 0), "layer: expected one of"),
])
def test_channel_bad_input_when_called(objective, fragment):
    net = model()
    with pytest.raises(ValueError, match=fragment):
        featvis.visualize(net, objective, steps=1)
    assert _no_hooks_left(net)


PARAMETERISATION_BAD = [
    (dict(shape=(28, 28)), ValueError, r"shape: expected \(C, H, W\), got \(28, 28\)"),
    (dict(shape=(1, 0, 28)), ValueError, "shape: expected an int >= 1, got 0"),
    (dict(shape=(1, 28, 28), batch=0), ValueError, "batch: expected an int >= 1, got 0"),
    (dict(shape=(1, 28, 28), sd=-0.1), ValueError, "sd: expected a number >= 0.0"),
    (dict(shape=(1, 28, 28), sd=float("inf")), ValueError, "sd: expected a finite number, got inf"),
    (dict(shape=(1, 28, 28), generator=0), TypeError,
     "generator: expected a torch.Generator or None, got int"),
]


@pytest.mark.parametrize("arguments, error, fragment", PARAMETERISATION_BAD)
def test_pixel_image_bad_input(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.pixel_image(**arguments)


@pytest.mark.parametrize("arguments, error, fragment", PARAMETERISATION_BAD + [
    (dict(shape=(1, 28, 28), decay_power=-1.0), ValueError, "decay_power: expected a number >= 0.0"),
    (dict(shape=(1, 28, 28), decay_power=float("nan")), ValueError,
     "decay_power: expected a number, got nan"),
])
def test_fourier_image_bad_input(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.fourier_image(**arguments)


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(images=torch.rand(28, 28)), ValueError, r"images: expected shape \(N, C, H, W\)"),
    (dict(images="x"), TypeError, "images: expected a torch.Tensor, got str"),
    (dict(shift=-1), ValueError, "shift: expected an int >= 0, got -1"),
    (dict(scales=1.0), TypeError, r"scales: expected a pair \(low, high\), got 1.0"),
    (dict(scales=(1.1, 0.9)), ValueError, r"scales: expected low <= high, got \(1.1, 0.9\)"),
    (dict(scales=(0.0, 1.0)), ValueError, "scales: expected a number > 0.0, got 0.0"),
    (dict(degrees=float("inf")), ValueError, "degrees: expected a finite number, got inf"),
    (dict(generator="seed"), TypeError, "generator: expected a torch.Generator or None, got str"),
])
def test_random_affine_bad_input(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.random_affine(**({"images": torch.rand(2, 1, 8, 8)} | arguments))


@pytest.mark.parametrize("images, error, fragment", [
    (torch.rand(8, 8), ValueError, r"images: expected shape \(N, C, H, W\), got shape \(8, 8\)"),
    (torch.ones(1, 1, 4, 4, dtype=torch.long), TypeError, "images: expected a floating-point tensor"),
    (None, TypeError, "images: expected a torch.Tensor, got NoneType"),
])
def test_total_variation_bad_input(images, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.total_variation(images)


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(model="net"), TypeError, "model: expected a torch.nn.Module, got str"),
    (dict(objective="logit"), TypeError, "objective: expected a callable, got str"),
    (dict(param="wavelet"), ValueError, r"param: expected one of \['fourier', 'pixel'\], got 'wavelet'"),
    (dict(shape=(28, 28)), ValueError, r"shape: expected \(C, H, W\), got \(28, 28\)"),
    (dict(lr=0.0), ValueError, "lr: expected a number > 0"),
    (dict(lr=float("inf")), ValueError, "lr: expected a finite number, got inf"),
    (dict(tv=-1.0), ValueError, "tv: expected a number >= 0.0"),
    (dict(l1=float("inf")), ValueError, "l1: expected a finite number, got inf"),
    (dict(batch=0), ValueError, "batch: expected an int >= 1, got 0"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1, got 0"),
    (dict(seed=-1), ValueError, "seed: expected an int >= 0, got -1"),
    (dict(transform="yes"), TypeError, "transform: expected a bool, got str"),
])
def test_visualize_bad_input(arguments, error, fragment):
    net = model()
    arguments = {"model": net, "objective": featvis.class_logit(1), "steps": 1} | arguments
    with pytest.raises(error, match=fragment):
        featvis.visualize(arguments.pop("model"), arguments.pop("objective"), **arguments)
    assert _no_hooks_left(net)


@pytest.mark.parametrize("weight, error, fragment", [
    (torch.zeros(3, 3), ValueError, r"weight: expected a conv weight of shape \(K, C, h, w\), got \(3, 3\)"),
    ([[0.0]], TypeError, "weight: expected a torch.Tensor, got list"),
])
def test_filter_images_bad_input(weight, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.filter_images(weight)


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(net="xnet"), ValueError, r"net: expected one of \['onet', 'pnet', 'rnet'\], got 'xnet'"),
    (dict(net=None), ValueError, r"net: expected one of \['onet', 'pnet', 'rnet'\], got None"),
])
def test_mtcnn_state_dict_bad_input(arguments, error, fragment):
    with pytest.raises(error, match=fragment):
        featvis.mtcnn_state_dict(**arguments)
