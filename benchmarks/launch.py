"""Time to a first result where readers launch the pages (part of `make bench`).

- The install cell: what a page's first cell does on Colab, `pip install` of the package with
  the dependencies Colab lacks, timed from the state of a fresh runtime (the reader environment
  with everything the package brought removed again). Installed from this tree: the clone of the
  repository that the cell's `git+` URL adds cannot be timed on a machine without GitHub.
- The reader environment's size on disk, and the part of it that is PyTorch's CUDA libraries:
  the CUDA build is all PyPI serves here, while Binder's configuration takes the CPU-only build.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READER = ROOT / ".venv-reader"
PYTHON = str(READER / "bin" / "python")
BUDGET = {"install_s": 60, "binder_gb": 2.0}


def _installed() -> set[str]:
    frozen = subprocess.check_output([PYTHON, "-m", "pip", "freeze", "--exclude-editable"], text=True)
    return {line.split("==")[0].lower() for line in frozen.splitlines() if "==" in line}


def install_cell_seconds() -> float:
    base = {line.split("==")[0].lower() for line in (READER / "colab-base.txt").read_text().splitlines()}
    added = sorted((_installed() - base) | {"sedl"})
    subprocess.run([PYTHON, "-m", "pip", "uninstall", "--quiet", "--yes", *added], check=True)
    start = time.perf_counter()
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", str(ROOT)], check=True, cwd=ROOT)
    return time.perf_counter() - start


def _gigabytes(*paths: Path) -> float:
    sizes = [int(subprocess.check_output(["du", "-sb", str(p)], text=True).split()[0])
             for p in paths if p.exists()]
    return sum(sizes) / 1e9


def environment_sizes() -> dict[str, float]:
    site = next((READER / "lib").glob("python*/site-packages"))
    cuda = [*site.glob("nvidia*"), *site.glob("triton*"), *site.glob("cuda*")]
    total = _gigabytes(READER)
    return {"reader_gb": total, "cuda_gb": _gigabytes(*cuda), "without_cuda_gb": total - _gigabytes(*cuda)}


def run() -> dict[str, float]:
    if not (READER / "colab-base.txt").exists():
        raise FileNotFoundError(f"{READER} is not built: run `make launch` first")
    return {"install_s": install_cell_seconds()} | environment_sizes()
