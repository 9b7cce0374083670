import pytest
import torch
import torch.nn.functional as F

from sedl import attribution, data, mtcnn


@pytest.fixture(scope="module")
def onet():
    return mtcnn.onet()


def test_onet_sorts_the_lfw_faces_from_the_non_faces(onet):
    # The 100 faces and 100 non-faces of scikit-image's LFW subset, grey copied into R, G, B.
    lfw = F.interpolate(data.faces(), size=(48, 48), mode="bilinear", align_corners=False)
    with torch.no_grad():
        p = onet(lfw.clamp(0, 1).repeat(1, 3, 1, 1)).softmax(1)[:, mtcnn.FACE]
    assert (p[:100] > 0.5).float().mean() >= 0.95
    assert (p[100:] <= 0.5).float().mean() >= 0.95


def test_onet_finds_the_astronauts_face_and_its_landmarks(onet):
    windows, corners = mtcnn.crops(data.image("astronaut", size=256), size=64, stride=16)
    with torch.no_grad():
        p = onet(windows).softmax(1)[:, mtcnn.FACE]
        points = onet.landmarks(windows[p.argmax()][None])[0]
    top, left = corners[p.argmax()].tolist()
    assert p.max() > 0.99 and 16 <= top <= 48 and 72 <= left <= 104  # her face, rows 30-100, cols 90-150
    assert points[:2, 1].max() < points[2, 1] < points[3:, 1].min()  # eyes above the nose above the mouth
    assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]  # left before right
    assert ((points >= 0) & (points < 48)).all()


def test_onet_is_a_classifier_the_attribution_methods_accept(onet):
    crop = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    assert onet(crop).shape == (2, 2)
    assert attribution.grad_cam(onet, crop, mtcnn.FACE, layer="prelu3").shape == (2, 1, 48, 48)
    assert not onet.training


def test_crops_cut_every_window_in_order():
    image = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(1))
    windows, corners = mtcnn.crops(image, size=4, stride=4)
    assert corners.tolist() == [[0, 0], [0, 4], [0, 8], [4, 0], [4, 4], [4, 8]]
    assert windows.shape == (6, 3, 48, 48)
    native = F.interpolate(image[:, :, 4:8, 8:12], size=(48, 48), mode="bilinear", antialias=True,
                           align_corners=False).clamp(0, 1)
    torch.testing.assert_close(windows[5:6], native)
    same, _ = mtcnn.crops(torch.rand(1, 3, 48, 50), size=48, stride=2)
    assert same.shape == (2, 3, 48, 48)


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(image=torch.rand(2, 3, 64, 64)), ValueError, r"image: expected one image \(1, C, H, W\)"),
    (dict(image=torch.rand(3, 64, 64)), ValueError, r"image: expected shape \(N, C, H, W\)"),
    (dict(image=torch.rand(1, 3, 64, 64) * 255), ValueError, r"image: expected values in \[0, 1\]"),
    (dict(image="photo"), TypeError, "image: expected a torch.Tensor, got str"),
    (dict(size=65), ValueError, "size: expected an int <= 64, got 65"),
    (dict(size=0), ValueError, "size: expected an int >= 1, got 0"),
    (dict(stride=0), ValueError, "stride: expected an int >= 1, got 0"),
    (dict(stride=2.5), TypeError, "stride: expected an int, got float"),
])
def test_crops_bad_input(arguments, error, fragment):
    arguments = {"image": torch.rand(1, 3, 64, 64)} | arguments
    with pytest.raises(error, match=fragment):
        mtcnn.crops(arguments.pop("image"), **arguments)


@pytest.mark.parametrize("wheel, error, fragment", [
    (3, TypeError, "wheel: expected a path"),
])
def test_onet_bad_input(wheel, error, fragment):
    with pytest.raises(error, match=fragment):
        mtcnn.onet(wheel=wheel)


@pytest.mark.parametrize("images, error, fragment", [
    (torch.rand(1, 1, 48, 48), ValueError, r"images: expected RGB crops of shape \(N, 3, 48, 48\), got \(1,"),
    (torch.rand(1, 3, 24, 24), ValueError, r"images: expected RGB crops of shape \(N, 3, 48, 48\)"),
    (torch.rand(3, 48, 48), ValueError, r"images: expected RGB crops of shape \(N, 3, 48, 48\)"),
    ("x", TypeError, "images: expected a torch.Tensor, got str"),
])
def test_onet_forward_bad_input(onet, images, error, fragment):
    with pytest.raises(error, match=fragment):
        onet(images)
    with pytest.raises(error, match=fragment):
        onet.landmarks(images)
