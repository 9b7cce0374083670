"""Tests of sedl.cache: train once, load after; the key knows the code; damaged files retrain."""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sedl import _fingerprint, cache, models, repro


def tiny_training(calls):
    """A cached 'training' that is fast and counts how often it really ran."""
    def train_fn():
        calls.append(1)
        model = models.build(seed=len(calls), width=2, hidden=4)
        return model, {"runs": len(calls)}
    return train_fn


def make():
    return models.SmallCNN(width=2, hidden=4)


def test_cached_trains_once_then_loads(tmp_path):
    calls = []
    m1, r1 = cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    m2, r2 = cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 1 and r1 == r2 == {"runs": 1}
    assert not m2.training
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    cache.cached("toy", {"a": 2}, tiny_training(calls), make)  # new config -> new training
    assert len(calls) == 2
    assert len(list(cache.cache_dir().glob("toy-*.pt"))) == 2
    assert not list(cache.cache_dir().glob("*.tmp"))


def test_cached_leaves_the_global_random_state_alike_on_a_hit_and_a_miss():
    import random

    import numpy as np

    def draws_globally():
        torch.rand(100), np.random.rand(100), random.random()  # noqa: NPY002 (global draws)
        return make(), {}

    def after_cached():
        repro.set_seed(0)
        cache.cached("toy", {"a": 3}, draws_globally, make)
        return torch.rand(1).item(), np.random.rand(), random.random()  # noqa: NPY002

    miss = after_cached()
    hit = after_cached()
    assert miss == hit


@pytest.mark.parametrize("damage", ["truncate", "garble", "flip_weights"])
def test_a_damaged_cache_file_is_reported_and_retrained(damage):
    calls = []
    cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    (path,) = cache.cache_dir().glob("toy-*.pt")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garble":
        path.write_bytes(b"not a checkpoint at all")
    else:
        payload = torch.load(path, weights_only=True)
        payload["state_dict"]["head.fc.bias"] += 1.0
        torch.save(payload, path)
    with pytest.warns(UserWarning, match="(?s)unusable.*retraining"):
        _, record = cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 2 and record == {"runs": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten file is good again
        cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 2


def test_a_failed_training_leaves_nothing_on_disk():
    def broken():
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        cache.cached("toy", {"a": 1}, broken, make)
    assert not cache.cache_dir().exists() or not list(cache.cache_dir().iterdir())


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"name": "../evil"}, ValueError, "name: expected letters, digits, '_' or '-', got '../evil'"),
    ({"name": ""}, ValueError, "name: expected letters, digits"),
    ({"name": "caf\u00e9"}, ValueError, "name: expected letters, digits"),
    ({"name": 3}, TypeError, "name: expected a str of letters, digits, '_' or '-', got int"),
    ({"config": [1]}, TypeError, "config: expected a dict, got list"),
    ({"config": {"f": print}}, TypeError, r"config: expected JSON values .*got builtin_function"),
    ({"train_fn": "train"}, TypeError, "train_fn: expected a callable, got str"),
    ({"make_model": None}, TypeError, "make_model: expected a callable, got NoneType"),
    ({"make_model": lambda: "cnn"}, TypeError, "make_model: expected it to return a torch.nn.Module, got"),
])
def test_cached_bad_input(kwargs, error, fragment):
    args = {"name": "bad-input", "config": {}, "train_fn": lambda: (make(), {}), "make_model": make} | kwargs
    with pytest.raises(error, match=fragment):
        cache.cached(**args)
    assert not list(cache.cache_dir().glob("bad-input-*"))


@pytest.mark.parametrize("model, error, fragment", [
    (None, TypeError, "model: expected a torch.nn.Module, got NoneType"),
    ({"w": torch.zeros(1)}, TypeError, "model: expected a torch.nn.Module, got dict"),
])
def test_weights_digest_bad_input(model, error, fragment):
    with pytest.raises(error, match=fragment):
        cache.weights_digest(model)


def test_weights_digest_follows_the_weights():
    a, b = make(), make()
    b.load_state_dict(a.state_dict())
    assert cache.weights_digest(a) == cache.weights_digest(b)  # same weights, same digest
    assert cache.weights_digest(a) == hashlib.sha256(b"".join(
        key.encode() + tensor.contiguous().numpy().tobytes()
        for key, tensor in sorted(a.state_dict().items()))).hexdigest()
    with torch.no_grad():
        next(b.parameters())[0].flatten()[0] += 1e-6
    assert cache.weights_digest(a) != cache.weights_digest(b)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEDL_CACHE", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x"


# --- The cache knows the code that produced a model ---------------------------------------

def _helper_v1():
    return {"runs": "helper v1"}


def _helper_v2():
    return {"runs": "helper v2"}


_helper = _helper_v1


def _trainer_calling_helper(calls):
    def train_fn():
        calls.append(1)
        return make(), _helper()
    return train_fn


def test_editing_the_trainer_misses_the_cache():
    calls = []

    def train_v1():
        calls.append("v1")
        return make(), {"version": 1}

    def train_v2():
        calls.append("v2")
        return make(), {"version": 2}

    cache.cached("toy", {"a": 1}, train_v1, make)
    cache.cached("toy", {"a": 1}, train_v1, make)  # the same trainer: loaded
    assert calls == ["v1"]
    _, record = cache.cached("toy", {"a": 1}, train_v2, make)  # same name and config
    assert calls == ["v1", "v2"] and record == {"version": 2}
    runs = []
    cache.cached("toy", {"a": 1}, tiny_training(runs), make)
    cache.cached("toy", {"a": 1}, tiny_training(runs), make)  # a new closure of the same code
    assert len(runs) == 1


def test_editing_a_trainer_without_source_misses_the_cache():
    # exec'd code has no source to read: the fingerprint falls back to its code object.
    calls = []

    def compiled(lr):
        namespace = {"calls": calls, "make": make}
        exec(compile(textwrap.dedent(f"""
            def train_fn():
                calls.append({lr})
                return make(), {{"lr": {lr}, "tags": sorted({{"a", "b", "c"}})}}
        """), "<string>", "exec"), namespace)
        return namespace["train_fn"]

    assert _fingerprint._source(compiled(0.1)) is None
    for lr in (0.1, 0.1, 0.2):
        cache.cached("toy", {"a": 1}, compiled(lr), make)
    assert calls == [0.1, 0.2]


def test_editing_a_helper_the_trainer_calls_misses_the_cache(monkeypatch):
    calls = []
    _, first = cache.cached("toy", {"a": 1}, _trainer_calling_helper(calls), make)
    cache.cached("toy", {"a": 1}, _trainer_calling_helper(calls), make)
    assert len(calls) == 1
    monkeypatch.setattr(sys.modules[__name__], "_helper", _helper_v2)  # the trainer is unchanged
    _, second = cache.cached("toy", {"a": 1}, _trainer_calling_helper(calls), make)
    assert len(calls) == 2 and (first, second) == ({"runs": "helper v1"}, {"runs": "helper v2"})


def test_editing_a_sedl_module_misses_only_where_it_is_used(monkeypatch, tmp_path):
    from sedl import attacks, data

    def uses_attacks():
        return attacks.fgsm

    def uses_nothing():
        return None

    def edit(module):
        copy = tmp_path / Path(module.__file__).name
        copy.write_bytes(Path(module.__file__).read_bytes() + b"\n# an edit\n")
        monkeypatch.setattr(module, "__file__", str(copy))

    before = cache._code_fingerprint(uses_attacks), cache._code_fingerprint(uses_nothing)
    edit(attacks)
    after = cache._code_fingerprint(uses_attacks), cache._code_fingerprint(uses_nothing)
    assert after[0] != before[0] and after[1] == before[1]
    edit(data)  # every model depends on the data, whose checksums sedl.data records
    assert cache._code_fingerprint(uses_nothing) != before[1]


_PAGE = """
import functools
from sedl import models

EPOCHS = 2
TABLE = {"double": lambda x: 2 * x}


def helper(x):
    return x in {"a", "b", "c"}, EPOCHS


class Net(models.SmallCNN):
    def forward(self, x):
        return TABLE["double"](super().forward(x))


def trainer(seed):
    def train_fn():
        return [helper(i) for i in range(EPOCHS)], seed
    return train_fn


train_fn, make = trainer(0), functools.partial(Net, width=2)
"""


def test_the_fingerprint_is_the_same_in_another_process(tmp_path, monkeypatch):
    (tmp_path / "sedl_fp_page.py").write_text(_PAGE)
    spec = importlib.util.spec_from_file_location("sedl_fp_page", tmp_path / "sedl_fp_page.py")
    page = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "sedl_fp_page", page)
    spec.loader.exec_module(page)
    here = cache._code_fingerprint(page.train_fn, page.make)
    script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import sedl_fp_page as p; "
              "from sedl import cache; print(cache._code_fingerprint(p.train_fn, p.make))")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # another order of sets and dicts of str
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, check=True).stdout.strip()
    assert there == here
    assert cache._code_fingerprint(page.trainer(1), page.make) != here  # the closed-over seed


# --- What is stored beside the weights --------------------------------------------------

def test_numpy_and_torch_values_round_trip_and_load_from_the_cache():
    calls = []
    config = {"lr": np.float64(0.1), "shape": (1, 28, 28), "widths": np.array([2, 4])}

    def train_fn():
        calls.append(1)
        return make(), {"accuracy": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True),
                        "curve": np.arange(3.0), "pair": (1, 2), "loss": torch.tensor(0.25)}

    _, first = cache.cached("toy", config, train_fn, make)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unusable, retraining" on the second call
        _, second = cache.cached("toy", config, train_fn, make)
    assert len(calls) == 1
    assert first == second == {"accuracy": 0.5, "n": 3, "ok": True, "curve": [0.0, 1.0, 2.0],
                               "pair": [1, 2], "loss": 0.25}
    assert [type(second[k]) for k in ("accuracy", "n", "ok")] == [float, int, bool]


@pytest.mark.parametrize("config, error, fragment", [
    ({"out": Path("x")}, TypeError, r"config: expected JSON values .* got PosixPath at config\['out'\]"),
    ({"model": {"widths": {3, 4}}}, TypeError, r"got set at config\['model'\]\['widths'\]"),
    ({"runs": [1, object()]}, TypeError, r"got object at config\['runs'\]\[1\]"),
    ({1: "one"}, TypeError, r"config: expected str keys \(as in JSON\), got the int key 1"),
    ("a=1", TypeError, "config: expected a dict, got str"),
])
def test_a_config_that_is_not_json_gets_a_clear_error(config, error, fragment):
    calls = []
    with pytest.raises(error, match=fragment):
        cache.cached("toy", config, tiny_training(calls), make)
    assert not calls


@pytest.mark.parametrize("result, fragment", [
    ((make(), {"when": object()}), r"record: expected JSON values .* got object at record\['when'\]"),
    ((make(), [1]), r"train_fn: expected it to return \(model, record\) with a dict record"),
    (None, r"train_fn: expected it to return \(model, record\).*got NoneType"),
])
def test_a_bad_training_result_gets_a_clear_error_and_leaves_nothing(result, fragment):
    with pytest.raises(TypeError, match=fragment):
        cache.cached("toy", {"a": 1}, lambda: result, make)
    assert not cache.cache_dir().exists() or not list(cache.cache_dir().iterdir())


# --- Architectures and old files ----------------------------------------------------------

@pytest.mark.parametrize("change, problem", [
    ({"width": 3}, "size mismatch for features.conv1.weight"),
    ({"batch_norm": False}, "Unexpected key"),
])
def test_a_mismatched_architecture_is_reported_and_retrained(change, problem):
    calls, arch = [], {"width": 2, "hidden": 4}  # read at call time: outside config and code

    def train_fn():
        calls.append(1)
        return models.build(seed=0, **arch), {}

    def make_model():
        return models.SmallCNN(**arch)

    cache.cached("toy", {"a": 1}, train_fn, make_model)
    arch.update(change)
    with pytest.warns(UserWarning, match=rf"(?s)toy-\w+\.pt does not fit the architecture.*"
                                         rf"{problem}.*retraining it"):
        model, _ = cache.cached("toy", {"a": 1}, train_fn, make_model)
    assert len(calls) == 2
    for p, q in zip(model.state_dict().values(), models.build(seed=0, **arch).state_dict().values(),
                    strict=True):
        assert torch.equal(p, q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the retrained file was saved and fits
        cache.cached("toy", {"a": 1}, train_fn, make_model)
    assert len(calls) == 2


def test_a_make_model_that_does_not_fit_the_trained_model_is_an_error():
    with pytest.raises(ValueError, match="make_model: expected the architecture of the model that "
                                         "train_fn returns.*size mismatch"):
        cache.cached("toy", {"a": 1}, tiny_training([]), lambda: models.SmallCNN(width=3, hidden=4))
    assert not cache.cache_dir().exists() or not list(cache.cache_dir().iterdir())


def test_a_file_in_an_older_key_format_is_a_miss_not_a_crash():
    old_key = {"name": "toy", "config": {"a": 1}, "torch": str(torch.__version__)}
    digest = hashlib.sha256(json.dumps(old_key, sort_keys=True).encode()).hexdigest()[:16]
    state = make().state_dict()
    old = {"key": old_key, "state_dict": state, "digest": cache._weights_digest(state),
           "record": {"runs": 0}}
    old_path = cache.cache_dir() / f"toy-{digest}.pt"
    old_path.parent.mkdir(parents=True)
    torch.save(old, old_path)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # under its old name it is simply not the file we want
        _, record = cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 1 and record == {"runs": 1}
    (new_path,) = set(cache.cache_dir().glob("toy-*.pt")) - {old_path}
    torch.save(old, new_path)  # an old payload under the new name: reported and retrained
    with pytest.warns(UserWarning, match="configuration or code does not match; retraining it"):
        _, record = cache.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 2 and record == {"runs": 2}
