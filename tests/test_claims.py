"""Claims as code: no typed results in the prose, every solution executed, claims that fail loudly."""

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from sedl import book

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("claims", ROOT / "scripts" / "claims.py")
claims = sys.modules["claims"] = importlib.util.module_from_spec(_spec)  # dataclasses need it
_spec.loader.exec_module(claims)

PAGES = claims.executable_pages()
IDS = [p.relative_to(ROOT / "book").as_posix() for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_no_result_is_typed_and_every_solution_runs(page):
    findings = claims.typed_results(page)
    assert not findings, "glue these numbers, or execute these solutions:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_page_guards_its_sentences_with_claims(page):
    text = page.read_text(encoding="utf-8")
    assert re.search(r"\bclaim\(", text), f"{page.name}: no sedl.book.claim guards a sentence of the prose"


SYNTHETIC = '''---
kernelspec:
  name: python3
---

# A page

```{code-cell} ipython3
eps = 0.3
coverage = 0.9
```

With a budget of 0.3 and 90 % coverage nothing is flagged.
The model is right on 94.1 % of the images. It is 13 times slower.

On 28 × 28 digits, in 2019, after 20 epochs, 3 of 25 pairs disagree.

Earlier work reported 79.6 % {cite}`someone2020`.

% typed: the lecture's slide quotes this figure
The study reports a 0.75 km/h error.

:::{exercise}
Try a budget of 0.45.
:::

:::{solution} ex
:class: dropdown

```python
print(1)
```

It comes out at 0.42.
:::
'''


def test_the_scanner_flags_results_and_spares_parameters(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(SYNTHETIC)
    found = {(f.what, f.text.split()[0]) for f in claims.typed_results(page)}
    assert found == {
        ("typed result '94.1 %'", "The"),
        ("typed result '13 times'", "It"),
        ("typed result '3 of 25'", "On"),
        ("solution shown but never executed", "```python"),
        ("typed result '0.42'", "It"),
    }


def test_a_broken_claim_stops_the_page_and_names_its_sentence():
    sentence = "FGSM leaves fewer digits correct than random signs of the same size."
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("fgsm, noise = 0.49, 0.12  # an edit that breaks the result"),
        nbformat.v4.new_code_cell(f"from sedl.book import claim\n"
                                  f"claim(fgsm < noise, {sentence!r}, fgsm=fgsm, noise=noise)"),
    ])
    with pytest.raises(CellExecutionError) as failure:
        NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert "ClaimError" in str(failure.value)
    assert f'contradicts the sentence "{sentence}" (fgsm=0.49, noise=0.12)' in str(failure.value)


def test_a_claim_that_holds_is_silent_and_shows_nothing(capsys):
    book.claim(True, "Nothing to see.", value=1.0)
    assert capsys.readouterr() == ("", "")
