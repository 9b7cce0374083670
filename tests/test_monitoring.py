import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from sedl import models, monitoring


def cpsi(reference, current, num_classes):
    return monitoring.category_psi(reference=torch.tensor(reference, dtype=torch.long),
                                   current=torch.tensor(current, dtype=torch.long), num_classes=num_classes)


def normal(n, seed, shift=0.0):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_psi_is_zero_on_identical_samples_and_grows_with_the_shift():
    x = normal(2000, 0)
    assert monitoring.psi(reference=x, current=x) == 0.0
    values = [monitoring.psi(reference=x, current=normal(2000, 1, shift))
              for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values[0] < 0.02  # two samples of one distribution
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > 1


def test_psi_matches_a_hand_computation():
    reference = torch.arange(10, dtype=torch.float64)  # two bins split at the median 4.5
    current = torch.tensor([1.0, 2.0, 7.0, 8.0, 9.0, 9.5, 9.0, 6.0])  # shares 0.25 and 0.75
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert monitoring.psi(reference=reference, current=current, bins=2) == pytest.approx(expected)


def test_psi_floors_empty_bins_and_is_symmetric_in_the_shares():
    reference, current = torch.arange(10.0), torch.full((5,), 100.0)
    assert np.isfinite(monitoring.psi(reference=reference, current=current, bins=2))
    a = cpsi([0, 0, 0, 1], [0, 1, 1, 1], 2)
    b = cpsi([0, 1, 1, 1], [0, 0, 0, 1], 2)
    assert a == pytest.approx(b) == pytest.approx(2 * 0.5 * np.log(3))


def test_category_psi_counts_missing_classes_with_the_floor():
    value = cpsi([0, 1], [0, 0], 3)
    expected = (1 - 0.5) * np.log(1 / 0.5) + (1e-4 - 0.5) * np.log(1e-4 / 0.5)
    assert value == pytest.approx(expected)


def test_drift_schedule_and_alarms():
    np.testing.assert_allclose(monitoring.drift_schedule(5, start=0, ramp=4, severity=2),
                               [0.5, 1.0, 1.5, 2.0, 2.0])
    flags = monitoring.alarm_days([0.3, 0.1, 0.3, 0.3, 0.3, 0.0], 0.25, patience=2)
    assert flags.tolist() == [False, False, False, True, True, False]
    assert monitoring.first_alarm(flags) == 3
    assert monitoring.first_alarm(monitoring.alarm_days([0.1, 0.2], 0.25)) is None


@pytest.fixture(scope="module")
def stream_setup():
    model = models.build(seed=0, width=4, hidden=16)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(60, 1, 28, 28, generator=g) * 0.5
    labels = torch.randint(0, 10, (60,), generator=g)
    with torch.no_grad():
        reference = monitoring.profile(model.eval()(images), images)
    return model, images, labels, reference


def brighten(images, severity, seed):
    return (images + 0.1 * severity).clamp(0, 1)


def test_stream_reports_each_day_and_sees_the_drift(stream_setup):
    model, images, labels, reference = stream_setup
    calls = []

    def recording(x, severity, seed):
        calls.append((severity, seed))
        return brighten(x, severity, seed)

    severities = monitoring.drift_schedule(6, start=3, ramp=3, severity=3)
    stream = monitoring.simulate_stream(model, images, labels, corrupt=recording, severities=severities,
                                        reference=reference, day_size=30, seed=4)
    assert list(stream.columns) == ["day", "severity", "accuracy", "mean_confidence", "low_confidence",
                                    "psi_confidence", "psi_classes", "psi_brightness"]
    assert calls == [(1.0, 7), (2.0, 8), (3.0, 9)]  # clean days are never corrupted
    assert stream["psi_brightness"].iloc[:3].max() < 0.5
    assert (stream["psi_brightness"].iloc[3:] > 5).all()  # every brightened day leaves the reference
    assert stream["accuracy"].between(0, 1).all()


def test_stream_is_deterministic_and_its_accuracy_is_right(stream_setup):
    model, images, labels, reference = stream_setup
    kwargs = dict(corrupt=brighten, severities=[0, 2], reference=reference, day_size=20)
    a = monitoring.simulate_stream(model, images, labels, seed=1, **kwargs)
    pd.testing.assert_frame_equal(a, monitoring.simulate_stream(model, images, labels, seed=1, **kwargs))
    assert not a.equals(monitoring.simulate_stream(model, images, labels, seed=2, **kwargs))
    idx = torch.from_numpy(np.random.default_rng([1, 0]).choice(60, 20, replace=False))
    with torch.no_grad():
        expected = (model(images[idx]).argmax(1) == labels[idx]).double().mean().item()
    assert a["accuracy"].iloc[0] == pytest.approx(expected)


def test_plot_stream_returns_a_two_panel_figure(stream_setup):
    model, images, labels, reference = stream_setup
    stream = monitoring.simulate_stream(model, images, labels, corrupt=brighten, severities=[0, 1, 2],
                                        reference=reference, day_size=20)
    fig = monitoring.plot_stream(stream, ["psi_confidence", "psi_brightness"], threshold=0.25,
                                 alarm=1, failure=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(ValueError, match="stream: expected a DataFrame from simulate_stream"):
        monitoring.plot_stream(stream.drop(columns="accuracy"), ["psi_confidence"], threshold=0.25)


def test_simulate_stream_bad_input(stream_setup):
    model, images, labels, reference = stream_setup
    x = torch.arange(5.0)
    with pytest.raises(TypeError, match="reference: expected a torch.Tensor"):
        monitoring.psi(reference=[1.0, 2.0], current=x)
    with pytest.raises(ValueError, match="current: expected a 1-d tensor of at least 2 values"):
        monitoring.psi(reference=x, current=x[None])
    with pytest.raises(ValueError, match="current: expected finite values"):
        monitoring.psi(reference=x, current=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="bins: expected an int >= 2"):
        monitoring.psi(reference=x, current=x, bins=1)
    with pytest.raises(ValueError, match="floor: expected a number > 0.0"):
        monitoring.psi(reference=x, current=x, floor=0)
    with pytest.raises(ValueError, match=r"current: expected labels in \[0, 1\]"):
        monitoring.category_psi(reference=torch.tensor([0, 1]), current=torch.tensor([2]), num_classes=2)
    with pytest.raises(ValueError, match="current: expected at least one label"):
        cpsi([0, 1], [], 2)
    with pytest.raises(ValueError, match="current: expected a dict made by profile"):
        monitoring.compare(reference, {"confidence": x})
    with pytest.raises(ValueError, match="logits: expected 60 rows"):
        monitoring.profile(torch.zeros(3, 10), images)
    call = dict(corrupt=brighten, severities=[0, 1], reference=reference)
    with pytest.raises(TypeError, match="corrupt: expected a callable"):
        monitoring.simulate_stream(model, images, labels, **(call | {"corrupt": "blur"}))
    with pytest.raises(ValueError, match="severities: expected a non-empty 1-d array"):
        monitoring.simulate_stream(model, images, labels, **(call | {"severities": [0, -1]}))
    with pytest.raises(ValueError, match="day_size: expected an int <= 60"):
        monitoring.simulate_stream(model, images, labels, day_size=61, **call)
    with pytest.raises(ValueError, match="labels: expected 60 labels"):
        monitoring.simulate_stream(model, images, labels[:5], **call)
    with pytest.raises(ValueError, match="ramp: expected an int >= 1"):
        monitoring.drift_schedule(5, start=0, ramp=0, severity=1)
    with pytest.raises(ValueError, match="patience: expected an int >= 1"):
        monitoring.alarm_days([0.1], 0.25, patience=0)
    with pytest.raises(ValueError, match="values: expected a 1-d sequence"):
        monitoring.alarm_days([[0.1]], 0.25)


def test_psi_bad_input():
    x = torch.arange(5.0)
    with pytest.raises(TypeError, match="positional"):
        monitoring.psi(x, x)  # keyword-only: the bins come from reference, a swap would pass silently
    with pytest.raises(TypeError, match="positional"):
        monitoring.category_psi(torch.tensor([0]), torch.tensor([1]), num_classes=2)


def test_compare_reports_the_low_confidence_share(stream_setup):
    reference = {"confidence": torch.linspace(0.5, 1, 101, dtype=torch.float64),
                 "prediction": torch.zeros(101, dtype=torch.long), "brightness": torch.rand(101).double()}
    current = dict(reference, confidence=torch.tensor([0.5, 0.52, 0.9, 0.99], dtype=torch.float64))
    assert monitoring.compare(reference, current, tail=0.1)["low_confidence"] == 0.5
    same = monitoring.compare(reference, reference, tail=0.1)
    assert same["low_confidence"] == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="tail: expected a number > 0.0"):
        monitoring.compare(reference, current, tail=0.0)


def test_alarm_days_bad_input():
    with pytest.raises(ValueError, match="threshold: expected a finite number"):
        monitoring.alarm_days([0.1], float("inf"))
    with pytest.raises(TypeError, match="values: expected a 1-d sequence of numbers"):
        monitoring.alarm_days(["a"], 0.25)
    with pytest.raises(ValueError, match="flags: expected a 1-d sequence of bools"):
        monitoring.first_alarm([0.3, 0.5])


@pytest.mark.parametrize("args, kind, message", [
    ({"reference": [0, 1]}, TypeError, "reference: expected a torch.Tensor, got list"),
    ({"current": torch.tensor([0.0, 1.0])}, TypeError, "current: expected an integer tensor"),
    ({"current": torch.tensor([[0, 1]])}, ValueError, r"current: expected shape \(N,\)"),
    ({"current": torch.tensor([0, 3])}, ValueError, r"current: expected labels in \[0, 2\]"),
    ({"current": torch.tensor([], dtype=torch.long)}, ValueError, "current: expected at least one label"),
    ({"num_classes": 1}, ValueError, "num_classes: expected an int >= 2, got 1"),
    ({"num_classes": 3.0}, TypeError, "num_classes: expected an int, got float"),
    ({"floor": 0.0}, ValueError, "floor: expected a number > 0.0"),
    ({"floor": 0.5}, ValueError, "floor: expected a number <= 0.01"),
])
def test_category_psi_bad_input(args, kind, message):
    args = {"reference": torch.tensor([0, 1, 2]), "current": torch.tensor([2, 1]), "num_classes": 3} | args
    with pytest.raises(kind, match=message):
        monitoring.category_psi(**args)


def _profile(n=20):
    g = torch.Generator().manual_seed(0)
    return {"confidence": 0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64),
            "prediction": torch.randint(0, 3, (n,), generator=g),
            "brightness": torch.rand(n, generator=g, dtype=torch.float64)}


@pytest.mark.parametrize("args, kind, message", [
    ({"reference": [1.0]}, ValueError, "reference: expected a dict made by profile"),
    ({"current": {"confidence": torch.ones(3)}}, ValueError, "current: expected a dict made by profile"),
    ({"current": _profile() | {"confidence": [0.5, 0.6]}}, TypeError,
     r"current\['confidence'\]: expected a torch.Tensor, got list"),
    ({"reference": _profile() | {"brightness": np.ones(20)}}, TypeError,
     r"reference\['brightness'\]: expected a torch.Tensor, got ndarray"),
    ({"tail": 0.0}, ValueError, "tail: expected a number > 0.0"),
    ({"tail": 1.5}, ValueError, "tail: expected a number <= 1.0"),
    ({"tail": "0.1"}, TypeError, "tail: expected a number, got str"),
    ({"bins": 1}, ValueError, "bins: expected an int >= 2, got 1"),
    ({"num_classes": 2}, ValueError, r"reference: expected labels in \[0, 1\]"),
    ({"num_classes": "3"}, TypeError, "num_classes: expected an int, got str"),
])
def test_compare_bad_input(args, kind, message):
    args = {"reference": _profile(), "current": _profile(), "num_classes": 3} | args
    with pytest.raises(kind, match=message):
        monitoring.compare(args.pop("reference"), args.pop("current"), **args)


@pytest.mark.parametrize("args, kind, message", [
    ({"days": 0}, ValueError, "days: expected an int >= 1, got 0"),
    ({"days": 5.0}, TypeError, "days: expected an int, got float"),
    ({"start": -1}, ValueError, "start: expected an int >= 0, got -1"),
    ({"ramp": 0}, ValueError, "ramp: expected an int >= 1, got 0"),
    ({"severity": -1.0}, ValueError, "severity: expected a number >= 0.0"),
    ({"severity": float("inf")}, ValueError, "severity: expected a finite number, got inf"),
    ({"severity": "2"}, TypeError, "severity: expected a number, got str"),
])
def test_drift_schedule_bad_input(args, kind, message):
    args = {"days": 5, "start": 1, "ramp": 2, "severity": 2.0} | args
    with pytest.raises(kind, match=message):
        monitoring.drift_schedule(args.pop("days"), **args)


@pytest.mark.parametrize("flags", [[0.3, 0.5], [[True]], True, [1, 0], "yes"])
def test_first_alarm_bad_input(flags):
    with pytest.raises(ValueError, match="flags: expected a 1-d sequence of bools"):
        monitoring.first_alarm(flags)


@pytest.mark.parametrize("args, kind, message", [
    ({"images": torch.full((3, 1, 4, 4), 2.0)}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"images": np.zeros((3, 1, 4, 4))}, TypeError, "images: expected a torch.Tensor"),
    ({"logits": [[0.0, 1.0]]}, TypeError, "logits: expected a torch.Tensor, got list"),
    ({"logits": torch.zeros(3)}, ValueError, r"logits: expected a floating-point tensor \(N, K\)"),
    ({"logits": torch.zeros(2, 4)}, ValueError, "logits: expected 3 rows, one per image, got 2"),
])
def test_profile_bad_input(args, kind, message):
    args = {"logits": torch.zeros(3, 4), "images": torch.rand(3, 1, 4, 4)} | args
    with pytest.raises(kind, match=message):
        monitoring.profile(args["logits"], args["images"])


STREAM = pd.DataFrame({"day": [0, 1, 2], "severity": [0.0, 1.0, 2.0], "accuracy": [0.9, 0.8, 0.5],
                       "mean_confidence": [0.9, 0.85, 0.8], "psi_confidence": [0.01, 0.1, 0.5]})


@pytest.mark.parametrize("args, kind, message", [
    ({"stream": STREAM.to_dict()}, ValueError, "stream: expected a DataFrame from simulate_stream"),
    ({"stream": STREAM.drop(columns="mean_confidence")}, ValueError,
     "stream: expected a DataFrame from simulate_stream"),
    ({"statistics": ["psi_classes"]}, ValueError, "stream: expected a DataFrame .* with \\['psi_classes'\\]"),
    ({"statistics": "psi_confidence"}, TypeError, "statistics: expected a list or tuple of str, got str"),
    ({"threshold": "0.25"}, TypeError, "threshold: expected a number, got str"),
    ({"threshold": float("nan")}, ValueError, "threshold: expected a number, got nan"),
    ({"alarm": 1.5}, TypeError, "alarm: expected an int, got float"),
    ({"failure": -1}, ValueError, "failure: expected an int >= 0, got -1"),
])
def test_plot_stream_bad_input(args, kind, message):
    args = {"stream": STREAM, "statistics": ["psi_confidence"], "threshold": 0.25} | args
    with pytest.raises(kind, match=message):
        monitoring.plot_stream(args.pop("stream"), args.pop("statistics"), **args)
