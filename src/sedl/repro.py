"""Seeds, determinism, the compute device and an environment report.

Every page of the book calls :func:`set_seed` before it trains or samples, so
that running a page twice gives the same numbers. The chapter on
reproducibility (:ref:`sec_reproducibility`) explains why each switch matters.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from sedl._checks import check_bool, check_int, check_seed

__all__ = ["set_seed", "device", "environment_report", "generator", "preserved_rng", "num_threads"]


def set_seed(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic kernels.

    Parameters
    ----------
    seed : int
        A non-negative integer below ``2**32`` (NumPy's limit).
    deterministic : bool, default True
        Also call ``torch.use_deterministic_algorithms(True)``, so that an
        operation without a deterministic implementation raises instead of
        silently giving different results from run to run.

    Examples
    --------
    >>> set_seed(0)
    >>> a = torch.rand(2)
    >>> set_seed(0)
    >>> torch.equal(a, torch.rand(2))
    True
    """
    check_seed(seed)
    check_bool(deterministic, "deterministic")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeding the legacy global generator is the point
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this workspace setting to be deterministic on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``, for explicit randomness.

    >>> torch.equal(torch.rand(3, generator=generator(1)), torch.rand(3, generator=generator(1)))
    True
    """
    check_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing the global random state of Python, NumPy and PyTorch.

    What the block draws from the global generators is drawn from a copy; afterwards the
    state is as it was. :func:`sedl.models.cached` trains inside it, so that a page draws
    the same numbers after it whether the model was trained now or loaded from the cache.

    >>> set_seed(0)
    >>> with preserved_rng():
    ...     _ = torch.rand(5), np.random.rand(5), random.random()
    >>> a = torch.rand(1), np.random.rand(1), random.random()
    >>> set_seed(0)
    >>> b = torch.rand(1), np.random.rand(1), random.random()
    >>> bool(a[0] == b[0]) and bool(a[1] == b[1]) and a[2] == b[2]
    True
    """
    # NumPy's legacy global generator is what code that is not ours draws from: keep it too.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)  # noqa: NPY002


@contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` CPU threads for PyTorch, then restore the previous count.

    The thread count decides the order in which a CPU sums, so it is part of the computation
    (:ref:`sec_reproducibility`): :func:`sedl.train.fit` trains with one thread by default, so
    that the weights it gives do not depend on how many cores the machine has. ``None``
    leaves the count as it is.

    >>> before = torch.get_num_threads()
    >>> with num_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if threads is not None:
        check_int(threads, "threads", minimum=1)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def device() -> torch.device:
    """The device pages compute on: the first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment_report() -> dict[str, str]:
    """The software and hardware a page ran on, as a name -> version mapping.

    >>> {"Python", "torch", "GPU"} <= set(environment_report())
    True
    """
    import matplotlib
    import sklearn
    import torchvision

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)"
    return {
        "Python": sys.version.split()[0],
        "Platform": platform.platform(),
        "Processor": platform.machine(),
        "CPU": _cpu_model(),
        # The vector instructions PyTorch's CPU kernels use: they set the order of the sums, so two
        # machines that differ here train the same seed to slightly different weights.
        "CPU kernels": torch.backends.cpu.get_cpu_capability(),
        "CPU threads": str(torch.get_num_threads()),
        "GPU": gpu,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "matplotlib": matplotlib.__version__,
    }
