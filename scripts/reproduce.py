"""The reproducibility check: execute every page a second time from nothing and compare.

`make reproduce` (weekly in CI, and on demand) runs this after `make book`. Each executable
page of the table of contents is executed again, independently of the book build: an empty
model cache (every model is trained again), two threads per kernel instead of the build's one
(scripts/execute.py), two pages at a time. Then, page by page and value by value, in both directions:

- every glued value must match the book build's exactly, unless the page declared with
  ``sedl.book.tolerate`` how far it may move (a tolerance the page derives from its own seed
  spread) or that it is a wall-clock timing, which is reported and never compared;
- every displayed table (an HTML table in a cell's output) must have the same cells; numbers in
  it may move by the tolerance the page declared for ``table-<k>`` (its k-th table), else none.

It writes `_build/reproduce/report.json` and `benchmarks/REPRODUCE.md` (shown on the status
page) and exits 1, naming each difference, when any value or table disagrees.

    python scripts/reproduce.py             # every page
    python scripts/reproduce.py PAGE ...    # only these (e.g. book/models)
    python scripts/reproduce.py --against-report PAGE ...
        # for writing a page's tolerances: execute it once (model cache as usual), print what it
        # declares, and list the differences of the last report that they would not cover
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"  # Jupyter Book's execution cache: the book build's runs
OUT = ROOT / "_build" / "reproduce"
REPORT_MD = ROOT / "benchmarks" / "REPRODUCE.md"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))
from execute import execute as execute_page  # noqa: E402

from sedl.book import NOT_COMPARED, TOLERANCE_PREFIX, within_tolerance  # noqa: E402

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Difference:
    page: str
    name: str
    book: str
    second: str
    tolerance: float | str | None  # None: must match exactly

    def __str__(self) -> str:
        allowed = "exactly" if self.tolerance is None else f"within {self.tolerance}"
        return (f"{self.page}: {self.name}: the book build gave {self.book!r}, the second "
                f"execution {self.second!r} (must agree {allowed})")


def glued_values(outputs) -> dict[str, str]:
    """The ``text/plain`` value of each ``glue()`` among outputs, by name."""
    values = {}
    for out in outputs or []:
        scrap = (out.get("metadata") or {}).get("scrapbook")
        if not scrap:
            continue
        # In a kernel's output the MIME types carry glue's prefix; myst-nb strips it when it
        # moves the values into `<page>.glue.json`.
        data = out.get("data", {})
        values[scrap["name"]] = data.get(scrap.get("mime_prefix", "") + "text/plain",
                                         data.get("text/plain", ""))
    return values


def notebook_glue(nb: dict) -> dict[str, str]:
    """Every glued value of an executed notebook."""
    values = {}
    for cell in nb["cells"]:
        values.update(glued_values(cell.get("outputs")))
    return values


def tables(nb: dict) -> list[list[str]]:
    """The cells' texts of every HTML table the notebook displays, in order."""
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            markup = out.get("data", {}).get("text/html", "")
            markup = "".join(markup) if isinstance(markup, list) else markup
            for table in re.findall(r"(?s)<table.*?</table>", markup):
                cells = re.findall(r"(?s)<t[dh][^>]*>(.*?)</t[dh]>", table)
                found.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return found


def split_tolerances(values: dict[str, str]) -> tuple[dict[str, str], dict[str, dict]]:
    """Separate a page's declared tolerances (``sedl.book.tolerate``) from its values."""
    # glue shows a string by its repr: undo that, then read the JSON that tolerate() wrote
    rules = {name.removeprefix(TOLERANCE_PREFIX): json.loads(ast.literal_eval(text))
             for name, text in values.items() if name.startswith(TOLERANCE_PREFIX)}
    return {n: v for n, v in values.items() if not n.startswith(TOLERANCE_PREFIX)}, rules


def _rule(name: str, rules: dict[str, dict]):
    from fnmatch import fnmatchcase

    return next((r["tolerance"] for p, r in rules.items() if fnmatchcase(name, p)), None)


def compare_values(page: str, book: dict[str, str], second: dict[str, str],
                   rules: dict[str, dict]) -> tuple[list[Difference], dict]:
    """Differences between two executions' glued values, and counts of what was compared."""
    diffs, counts = [], {"values": 0, "exact": 0, "within tolerance": 0, "not compared": 0}
    for name in sorted(book.keys() | second.keys()):
        if name not in book or name not in second:
            missing = "<not glued>"
            diffs.append(Difference(page, name, book.get(name, missing), second.get(name, missing), None))
            continue
        counts["values"] += 1
        agree = within_tolerance(name, book[name], second[name], rules)
        if agree is None:
            counts["not compared"] += 1
        elif agree and book[name] == second[name]:
            counts["exact"] += 1
        elif agree:
            counts["within tolerance"] += 1
        else:
            diffs.append(Difference(page, name, book[name], second[name], _rule(name, rules)))
    return diffs, counts


def compare_tables(page: str, book: list[list[str]], second: list[list[str]],
                   rules: dict[str, dict]) -> list[Difference]:
    """Differences between two executions' displayed tables, cell by cell."""
    if len(book) != len(second):
        return [Difference(page, "tables", f"{len(book)} tables", f"{len(second)} tables", None)]
    diffs = []
    for k, (a, b) in enumerate(zip(book, second, strict=True), start=1):
        name = f"table-{k}"
        tolerance = _rule(name, rules)
        if tolerance in NOT_COMPARED:
            continue
        if len(a) != len(b):
            diffs.append(Difference(page, name, f"{len(a)} cells", f"{len(b)} cells", None))
            continue
        for x, y in zip(a, b, strict=True):
            if x != y and not _cells_agree(x, y, tolerance):
                diffs.append(Difference(page, f"{name} cell", x, y, tolerance))
    return diffs


def _cells_agree(x: str, y: str, tolerance: float | None) -> bool:
    """Same text around the numbers, and each number within ``tolerance``."""
    if tolerance is None or NUMBER.sub("#", x) != NUMBER.sub("#", y):
        return False
    return all(abs(float(a) - float(b)) <= tolerance
               for a, b in zip(NUMBER.findall(x), NUMBER.findall(y), strict=True))


def execute(md: Path, env: dict[str, str]) -> dict:
    """Execute a MyST page in a fresh kernel, in its own folder, as the book build does."""
    import nbformat

    nb, _ = execute_page(md, env)
    return json.loads(nbformat.writes(nb))


def second_env(cache: Path) -> dict[str, str]:
    """The environment of the second execution: nothing cached, another thread count."""
    # The book build runs one thread per kernel (scripts/execute.py): here two.
    return os.environ | {"SEDL_CACHE": str(cache), "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def book_build_notebook(md: Path) -> dict:
    """The book build's execution of ``md``, outputs and glued values included.

    It is read from Jupyter Book's execution cache, matched on the page's present code: the
    copy in `_build/jupyter_execute` lacks the outputs when the build took the page from the
    cache. A page that is executed on every build (``execution_mode: force``) is not cached;
    its copy there is complete, except for the glued values, which myst-nb moves beside it."""
    import jupytext
    import nbformat
    from jupyter_cache import get_cache

    page = md.relative_to(ROOT).with_suffix("")
    try:
        record = get_cache(CACHE).match_cache_notebook(jupytext.read(md))
        return json.loads(nbformat.writes(get_cache(CACHE).get_cache_bundle(record.pk).nb))
    except KeyError:
        executed = ROOT / "_build" / "jupyter_execute" / f"{page}.ipynb"
        if "execution_mode: force" not in md.read_text() or not executed.exists():
            raise FileNotFoundError(f"{page}: the book build's execution cache holds no run of its "
                                    "present code: run `make book` before `make reproduce`") from None
    nb = json.loads(executed.read_text())
    store = executed.with_suffix(".glue.json")  # {name: output}, without glue's MIME prefix
    glued = list(json.loads(store.read_text()).values()) if store.exists() else []
    nb["cells"].append({"cell_type": "code", "source": "", "outputs": glued})
    return nb


def check_page(md: Path, cache: Path) -> dict:
    """Execute one page again and compare it with the book build's execution."""
    page = md.relative_to(ROOT).with_suffix("").as_posix()
    book_nb = book_build_notebook(md)
    book, rules = split_tolerances(notebook_glue(book_nb))
    try:
        second_nb = execute(md, second_env(cache))
    except Exception as error:  # a page that fails (or times out) is a finding, not the end of the run
        print(f"reproduce: {page}: the second execution failed", flush=True)
        failure = Difference(page, "execution", "ran", f"{type(error).__name__}: {str(error)[-300:]}", None)
        counts = {"values": 0, "exact": 0, "within tolerance": 0, "not compared": 0}
        return {"page": page, "counts": counts, "differences": [asdict(failure)], "deltas": {}}
    second, _ = split_tolerances(notebook_glue(second_nb))
    diffs, counts = compare_values(page, book, second, rules)
    diffs += compare_tables(page, tables(book_nb), tables(second_nb), rules)
    print(f"reproduce: {page}: {counts['values']} values, {len(diffs)} differences", flush=True)
    return {"page": page, "counts": counts, "differences": [asdict(d) for d in diffs],
            "deltas": numeric_deltas(book, second, rules)}


def numeric_deltas(book: dict[str, str], second: dict[str, str], rules: dict[str, dict]) -> dict:
    """|book - second| of every numeric glued value that is not a timing."""
    deltas = {}
    for name in book.keys() & second.keys():
        if _rule(name, rules) in NOT_COMPARED:
            continue
        try:
            deltas[name] = abs(float(book[name]) - float(second[name]))
        except ValueError:
            continue
    return deltas


def write_markdown(results: list[dict], path: Path) -> None:
    """The report the status page shows: per page, what was compared and how far it moved."""
    lines = ["Second execution: empty model cache, two threads per kernel (the build: one); "
             "compared with the book build.", "",
             "| page | values | exact | within tolerance | not compared | differences | largest change |",
             "| --- | --: | --: | --: | --: | --: | --- |"]
    for r in results:
        c, deltas = r["counts"], r["deltas"]
        top = max(deltas, key=deltas.get, default=None)
        largest = f"`{top}` {deltas[top]:.3g}" if top is not None and deltas[top] > 0 else "none"
        lines.append(f"| {r['page']} | {c['values']} | {c['exact']} | {c['within tolerance']} "
                     f"| {c['not compared']} | {len(r['differences'])} | {largest} |")
    path.write_text("\n".join(lines) + "\n")


def against_report(pages: list[Path]) -> int:
    """Execute each page once and list the last report's differences its tolerances leave."""
    last = {r["page"]: r for r in json.loads((OUT / "report.json").read_text())}
    uncovered = 0
    for md in pages:
        page = md.relative_to(ROOT).with_suffix("").as_posix()
        _, rules = split_tolerances(notebook_glue(execute(md, dict(os.environ))))
        for pattern, rule in rules.items():
            print(f"{page}: tolerate {pattern!r} {rule['tolerance']!r} ({rule['reason']})")
        for d in map(lambda d: Difference(**d), last.get(page, {}).get("differences", [])):
            name = d.name.removesuffix(" cell")
            tolerance = _rule(name, rules)
            covered = (tolerance in NOT_COMPARED or (d.name.endswith(" cell") and _cells_agree(
                d.book, d.second, tolerance)) or bool(within_tolerance(d.name, d.book, d.second, rules)))
            if not covered:
                uncovered += 1
                print(f"NOT COVERED {d.page}: {d.name}: {d.book!r} vs {d.second!r}, tolerance {tolerance!r}")
    print(f"{uncovered} differences of the last report not covered")
    return 1 if uncovered else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--against-report"]:
        return against_report([ROOT / f"{p}.md" for p in argv[1:]])
    if str(Path(__file__).resolve().parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pagetimes import executable_pages  # scripts/: the TOC's executable pages, in its order

    pages = [ROOT / f"{p}.md" for p in argv] if argv else executable_pages(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sedl-reproduce-") as cache:
        # Two kernels at a time with two threads each: the thread count differs from the build's.
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda md: check_page(md, Path(cache)), pages))
    (OUT / "report.json").write_text(json.dumps(results, indent=1))
    if not argv:
        write_markdown(results, REPORT_MD)
    differences = [Difference(**d) for r in results for d in r["differences"]]
    for d in differences:
        print(d, file=sys.stderr)
    compared = sum(r["counts"]["values"] for r in results)
    print(f"reproduce: {len(pages)} pages, {compared} glued values compared, "
          f"{len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
