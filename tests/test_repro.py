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


@pytest.mark.parametrize("bad, error, fragment", [
    (-1, ValueError, "seed: expected an int >= 0, got -1"),
    (2**32, ValueError, "seed: expected an int <= 4294967295"),
    (1.5, TypeError, "seed: expected an int, got float"),
    (True, TypeError, "seed: expected an int, got bool"),
    ("0", TypeError, "seed: expected an int, got str"),
])
def test_set_seed_rejects_bad_seeds(bad, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        repro.set_seed(bad)


def test_set_seed_rejects_non_bool_deterministic():
    with pytest.raises(TypeError, match="deterministic: expected a bool, got int"):
        repro.set_seed(0, deterministic=1)


def test_generator_is_seeded_and_checked():
    assert torch.equal(torch.rand(4, generator=repro.generator(7)),
                       torch.rand(4, generator=repro.generator(7)))
    with pytest.raises(ValueError, match="seed"):
        repro.generator(-3)


def test_device_and_environment_report():
    assert repro.device().type in {"cpu", "cuda"}
    report = repro.environment_report()
    assert report["torch"] == torch.__version__
    assert all(isinstance(v, str) and v for v in report.values())


def test_num_threads_sets_and_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), repro.num_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with repro.num_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2, 1.0, True, "2"])
def test_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="threads: expected a positive int or None"), repro.num_threads(bad):
        pass
