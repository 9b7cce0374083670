"""A pytest plugin for the nbval run: record every value a page glues into its prose.

`make pages` loads it (`-p tests.glue_record`). After the run it writes
`_build/glue/nbval.json` ({page: {name: text}}), which `tests/site/test_reproducible.py`
compares with the values of the book build's own execution of the same pages.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "_build" / "glue" / "nbval.json"
_glued: dict[str, dict[str, str]] = {}


def glued_values(outputs) -> dict[str, str]:
    """The ``text/plain`` value of each glue() call among a cell's outputs, by name."""
    values = {}
    for out in outputs or []:
        name = (out.get("metadata") or {}).get("scrapbook", {}).get("name")
        if name is None:
            continue
        # In a kernel's output the MIME types carry glue's prefix; myst-nb strips it
        # when it moves the outputs into `<page>.glue.json`.
        prefix = out["metadata"]["scrapbook"].get("mime_prefix", "")
        data = out.get("data", {})
        values[name] = data.get(prefix + "text/plain", data.get("text/plain", ""))
    return values


def pytest_runtest_makereport(item, call):
    outputs = getattr(item, "test_outputs", None)
    if call.when == "call" and outputs:
        page = Path(str(item.fspath)).resolve().relative_to(ROOT).with_suffix("").as_posix()
        _glued.setdefault(page, {}).update(glued_values(outputs))


def pytest_sessionfinish(session):
    if not _glued:
        return
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    RECORD.write_text(json.dumps(previous | _glued, indent=1, sort_keys=True))
