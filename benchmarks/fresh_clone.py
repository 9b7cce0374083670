"""The figure CI lives by: `.ci/run` (make test, then make book) in a fresh clone of HEAD.

A new clone in a temporary folder, with its own new virtual environments, a warm pip cache
where the machine has one, and an empty model cache: exactly what CI starts from. Writes
benchmarks/FRESH_CLONE.md (one row is appended per run, so repeated runs show their spread).
Budget (2 CPU cores): `make test` <= 12 minutes.

    python benchmarks/fresh_clone.py
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "FRESH_CLONE.md"
HEADER = ["# `.ci/run` from a fresh clone\n",
          "Each row is one run of `make test` and then `make book` in a new clone of the commit "
          "named, with new virtual environments and an empty model cache, on 2 CPU cores. "
          "Budget: `make test` <= 12 minutes.\n",
          "| date | commit | make test (min) | make book (s) | result |", "| --- | --- | --- | --- | --- |"]


def timed(command: list[str], cwd: Path, env: dict, log: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with log.open("ab") as out:
        status = subprocess.call(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - start, status


def main() -> int:
    commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    with tempfile.TemporaryDirectory(prefix="sedl-fresh-") as tmp:
        clone = Path(tmp) / "fresh"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEDL_", "VIRTUAL_ENV"))}
        env |= {"CI": "true", "SEDL_CACHE": str(Path(tmp) / "models")}
        log = ROOT / "_build" / "fresh-clone.log"
        log.parent.mkdir(exist_ok=True)
        log.write_bytes(b"")
        test_s, test_status = timed(["make", "test"], clone, env, log)
        book_s, book_status = (timed(["make", "book"], clone, env, log) if test_status == 0
                               else (float("nan"), 1))
    result = "passed" if test_status == book_status == 0 else f"**failed** (see {log.name})"
    earlier = [line for line in (RESULTS.read_text().splitlines() if RESULTS.exists() else [])
               if line.startswith("| 2")]  # the rows of earlier runs, by their date
    lines = HEADER + earlier
    lines.append(f"| {datetime.date.today().isoformat()} | {commit} | {test_s / 60:.1f} | {book_s:.0f} "
                 f"| {result} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(lines[-1])
    return 0 if result == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
