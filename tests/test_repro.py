import random

import numpy as np
import pytest
import torch

from sedl import repro


def test_set_seed_makes_every_library_repeat():
    draws = []
    for _ in range(2):
        repro.set_seed(123)
        legacy = np.random.rand()  # noqa: NPY002 -- set_seed must seed the legacy global
        draws.append((legacy, torch.rand(3), random.random()))
    assert draws[0][0] == draws[1][0]
    assert torch.equal(draws[0][1], draws[1][1])
    assert draws[0][2] == draws[1][2]
    assert torch.are_deterministic_algorithms_enabled()


def test_set_seed_can_leave_determinism_off():
    repro.set_seed(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    repro.set_seed(0)
    assert torch.are_deterministic_algorithms_enabled()


_BAD_SEEDS = [
    (-1, ValueError, "seed: expected an int >= 0, got -1"),
    (2**32, ValueError, "seed: expected an int <= 4294967295"),
    (1.5, TypeError, "seed: expected an int, got float"),
    (True, TypeError, "seed: expected an int, got bool"),
    ("0", TypeError, "seed: expected an int, got str"),
    (None, TypeError, "seed: expected an int, got NoneType"),
]


@pytest.mark.parametrize("kwargs, error, fragment", [
    *[({"seed": bad}, error, fragment) for bad, error, fragment in _BAD_SEEDS],
    ({"deterministic": 1}, TypeError, "deterministic: expected a bool, got int 1"),
    ({"deterministic": "no"}, TypeError, "deterministic: expected a bool, got str 'no'"),
])
def test_set_seed_bad_input(kwargs, error, fragment):
    before = torch.are_deterministic_algorithms_enabled()
    with pytest.raises(error, match=fragment):
        repro.set_seed(**({"seed": 0} | kwargs))
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.parametrize("bad, error, fragment", _BAD_SEEDS)
def test_generator_bad_input(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        repro.generator(bad)


def test_generator_is_seeded():
    assert torch.equal(torch.rand(4, generator=repro.generator(7)),
                       torch.rand(4, generator=repro.generator(7)))


def test_device_and_environment_report():
    assert repro.device().type in {"cpu", "cuda"}
    report = repro.environment_report()
    assert report["torch"] == torch.__version__
    assert report["CPU kernels"] == torch.backends.cpu.get_cpu_capability()  # what sets the sums' order
    assert all(isinstance(v, str) and v for v in report.values())


def test_num_threads_sets_and_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), repro.num_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with repro.num_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad, error, fragment", [
    (0, ValueError, "threads: expected an int >= 1, got 0"),
    (-2, ValueError, "threads: expected an int >= 1, got -2"),
    (1.0, TypeError, "threads: expected an int, got float 1.0"),
    (True, TypeError, "threads: expected an int, got bool True"),
    ("2", TypeError, "threads: expected an int, got str '2'"),
])
def test_num_threads_bad_input(bad, error, fragment):
    before = torch.get_num_threads()
    with pytest.raises(error, match=fragment), repro.num_threads(bad):
        pass
    assert torch.get_num_threads() == before
