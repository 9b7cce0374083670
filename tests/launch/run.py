"""Run every page where readers launch it: each notebook alone, in the reader's environment.

`make launch` builds the reader's environment (tests/launch/colab-preinstalled.txt, then the
`sedl` package as a page's first cell installs it on Colab; the same environment serves Binder,
see tests/launch/test_environment.py) and runs this script with that environment's Python.
Each `.ipynb` twin is copied alone into an empty folder outside the repository, as Colab opens
a notebook from GitHub, and nbval executes it there top to bottom, two notebooks at a time.
Nothing of the repository is reachable from the kernel: not its data, not `_build`, not the
Makefile.

    python tests/launch/run.py            # every twin
    python tests/launch/run.py PAGE ...   # only these (paths of twins, e.g. book/models.ipynb)

Exit status: pytest's. The last line counts pages run / pages total.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNELS = 2  # notebooks run at once (pytest-xdist); the machines have 2 cores


def twins(selected: list[str]) -> list[Path]:
    """The notebooks to run: every twin under book/, or the ones named."""
    if selected:
        return [ROOT / name for name in selected]
    return sorted((ROOT / "book").rglob("*.ipynb"))


def lay_out(notebooks: list[Path], where: Path) -> dict[Path, str]:
    """Copy each notebook alone into its own empty folder; map copy -> page name."""
    copies = {}
    for nb in notebooks:
        page = nb.relative_to(ROOT).with_suffix("").as_posix()
        folder = where / page.replace("/", "__")
        folder.mkdir(parents=True)
        copies[Path(shutil.copy(nb, folder / nb.name))] = page
    return copies


def read_report(report: Path, copies: dict[Path, str]) -> tuple[set[str], dict[str, float]]:
    """From pytest's JUnit XML report: the pages with a failing or erroring cell, and the
    seconds each page's cells took (for the log only: the launch tests bound no time)."""
    failed: set[str] = set()
    seconds: dict[str, float] = {}
    for case in ET.parse(report).iter("testcase"):
        # the test's class path holds the page's folder: "pages.book__models.models"
        where = case.get("classname", "") + case.get("file", "")
        pages = {page for copy, page in copies.items() if copy.parent.name in where}
        if case.find("failure") is not None or case.find("error") is not None:
            failed |= pages
        for page in pages:
            seconds[page] = seconds.get(page, 0.0) + float(case.get("time", 0))
    return failed, seconds


def binder_adds_to(python: str, where: Path) -> list[str]:
    """What Binder's configuration would install beyond this environment (besides the package
    itself, which pip always reinstalls from a folder). Nothing means this environment is the
    one Binder builds, and its test covers Binder too. The CPU index line is left out: the
    project's machines reach PyPI only."""
    requirements = where / "binder-requirements.txt"
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    requirements.write_text("\n".join(line for line in lines if not line.startswith("--extra-index-url")))
    report = where / "binder-report.json"
    subprocess.run([python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                    "-r", str(requirements)], cwd=ROOT, check=True)
    install = json.loads(report.read_text())["install"]
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in install
            if i["metadata"]["name"] != "sedl"]


def main(argv: list[str]) -> int:
    notebooks = twins(argv)
    with tempfile.TemporaryDirectory(prefix="sedl-launch-") as tmp:
        where = Path(tmp)
        extra = binder_adds_to(sys.executable, where)
        if extra:
            print(f"launch: Binder's configuration installs what this environment lacks: {extra}; "
                  "keep binder/requirements.txt and tests/launch/colab-preinstalled.txt in step",
                  file=sys.stderr)
            return 1
        copies = lay_out(notebooks, where / "pages")
        (where / "pytest.ini").write_text("[pytest]\n")  # not the repository's configuration
        report = where / "report.xml"
        status = subprocess.call([
            sys.executable, "-m", "pytest", "-c", str(where / "pytest.ini"), "--rootdir", str(where),
            "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600", "-p", "no:cacheprovider",
            # two notebooks at a time, each whole on one worker, one thread per kernel
            "-n", str(KERNELS), "--dist", "loadfile",
            "-q", f"--junitxml={report}", str(where / "pages")], cwd=where,
            env=os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        failed, seconds = read_report(report, copies) if report.exists() else (set(copies.values()), {})
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:5]
    if slowest:
        print("launch: slowest pages: " + ", ".join(f"{page} {s:.0f} s" for page, s in slowest))
    for page in sorted(failed):
        print(f"launch: {page} failed when run alone in the reader's environment", file=sys.stderr)
    print(f"launch: {len(copies) - len(failed)} of {len(copies)} pages ran alone "
          "in the reader's environment")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
