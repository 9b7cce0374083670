"""Find results typed into the prose of the executable pages, and solutions that never run.

The book's rule (README, "Working on the book"): a number in the prose that reports what
the page computed comes from a glued value (``{glue:text}`name:fmt```), and a sentence
that states a result in words is guarded by ``sedl.book.claim`` in a hidden cell. This
script finds what breaks the first half of the rule, and the exercise solutions that
are shown but not executed.

A *typed result* is a percentage (``12 %``, ``12.5 percent``), a decimal number
(``0.82``), a multiple (``13 times``, ``3x``) or a count of a count (``3 of 25``) in the
prose of an executable page, outside

- code cells, inline code, math (``$...$``, ``{math}``), glue roles, front matter,
  directive options (figure sizes, alt text) and link targets;
- sentences that cite their source (``{cite...}``, a footnote, a link): numbers from
  the literature are facts, not the page's results;
- numbers that the page's code cells write as literals: parameters the page sets
  (``eps=0.3`` in code may be called "a budget of 0.3" in the prose, ``coverage=0.9``
  "90 % coverage");
- the text of exercises (``{exercise}``), which sets tasks, not results; the text of
  solutions is checked;
- a paragraph after a MyST comment line ``% typed: <why>``, for the rare number that is
  neither a result nor covered above (a figure the lecture quotes): the reason is the
  documentation.

Dimensions (``28 × 28``) are not multiples.
Years and plain integers are never flagged (layer counts, epochs, image sizes).

    python scripts/claims.py            # list every typed result and unexecuted solution
    python scripts/claims.py PAGE.md    # only these pages
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from twins import executable_pages  # noqa: E402  (the one definition of an executable page)

#: A result typed as a number: percentages, decimals, multiples, "k of n".
NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
RESULT = re.compile(
    rf"(?<![\w.,])(?:{NUMBER}\s*(?:%|percent\b|per cent\b)"
    r"|\d+\.\d+"
    rf"|{NUMBER}\s*(?:times\b|×(?!\s*\d)|x\b)"
    r"|\d+ (?:of|out of) (?:the )?\d+\b)")
#: What is not prose: inline code, math, roles (glue, cite, term, ref...), link targets.
NOT_PROSE = re.compile(r"``[^`]*``|`[^`]*`|\$\$.*?\$\$|\$[^$\n]+\$|\{[\w:-]+\}`[^`]*`"
                       r"|\]\([^)]*\)|<[^>]+>|\[\^[\w-]+\]")
SOURCED = re.compile(r"\{cite[\w:-]*\}|\[\^[\w-]+\]|\]\(https?://|https?://")
CODE_LITERAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z({\[*_])")
FENCE = re.compile(r"^(`{3,}|:{3,})\s*(\{[\w-]+\})?(.*)$")


@dataclass(frozen=True)
class Finding:
    page: str
    line: int
    text: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.what}: {self.text}"


def _split(text: str) -> tuple[list[tuple[int, str]], list[str], list[tuple[int, str]]]:
    """The page as (prose lines, code-cell sources, python fences inside solutions)."""
    lines = text.split("\n")
    start = 0
    if lines and lines[0] == "---":
        start = lines.index("---", 1) + 1
    prose, code, unexecuted = [], [], []
    stack: list[tuple[str, str]] = []  # open fences: (marker, directive)
    in_options = exempt = exempt_text = False
    for number, line in enumerate(lines[start:], start + 1):
        if line.startswith("% typed:"):
            exempt, exempt_text = True, False  # the next paragraph, for the comment's reason
            continue
        if exempt and not stack:
            if line.strip():
                exempt_text = True
            elif exempt_text:
                exempt = False
        fence = FENCE.match(line.strip())
        inside_code = any(d in ("{code-cell}", "code", "python", "raw") or m.startswith("`")
                          for m, d in stack)
        if fence and stack and fence.group(1) == stack[-1][0] and not fence.group(2) \
                and not fence.group(3).strip():
            stack.pop()
            continue
        if fence and not inside_code and (fence.group(2) or fence.group(1).startswith("`")):
            directive = fence.group(2) or (fence.group(3).strip() or "code")
            if directive == "python" and any(d == "{solution}" for _, d in stack):
                unexecuted.append((number, line))
            stack.append((fence.group(1), directive))
            in_options = True
            code.append("") if directive == "{code-cell}" else None
            continue
        if inside_code:
            if stack and stack[-1][1] == "{code-cell}":
                code[-1] += line + "\n"
            continue
        if in_options and (line.startswith(":") or (line[:1].isspace() and line.strip())):
            continue  # a directive's options, with their indented continuation lines
        in_options = False
        if exempt or any(d == "{exercise}" for _, d in stack):
            continue
        if line.startswith(("(", "+++", "<!--")) and line.rstrip().endswith((")=", "+++", "-->")):
            continue
        prose.append((number, line))
    return prose, code, unexecuted


def _sentences(prose: list[tuple[int, str]]):
    """(first line number, sentence) for each sentence of each paragraph."""
    paragraph: list[tuple[int, str]] = []
    for number, line in prose + [(0, "")]:
        if line.strip():
            paragraph.append((number, line.strip()))
            continue
        if paragraph:
            joined = " ".join(text for _, text in paragraph)
            offsets, position = [], 0
            for n, text in paragraph:
                offsets.append((position, n))
                position += len(text) + 1
            cursor = 0
            for sentence in SENTENCE_END.split(joined):
                at = joined.find(sentence, cursor)
                line_no = max(n for offset, n in offsets if offset <= max(at, 0))
                cursor = at + len(sentence)
                yield line_no, sentence
        paragraph = []


def typed_results(page: Path) -> list[Finding]:
    """The typed results and unexecuted solutions of one executable page."""
    text = page.read_text(encoding="utf-8")
    name = page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else str(page)
    prose, code, unexecuted = _split(text)
    literals = {float(m) for cell in code for m in CODE_LITERAL.findall(cell)}
    findings = [Finding(name, n, line.strip(), "solution shown but never executed")
                for n, line in unexecuted]
    for line_no, sentence in _sentences(prose):
        if SOURCED.search(sentence):
            continue
        bare = NOT_PROSE.sub(" ", sentence)
        for match in RESULT.finditer(bare):
            number = float(re.match(NUMBER, match.group()).group().replace(",", ""))
            if re.search(r"%|percent|per cent", match.group()):
                is_parameter = round(number / 100, 6) in literals
            else:
                is_parameter = number in literals and not re.search(r"times|×|x\b| of ",
                                                                     match.group())
            if not is_parameter:
                findings.append(Finding(name, line_no, sentence, f"typed result {match.group()!r}"))
    return findings


def main(argv: list[str]) -> int:
    pages = [Path(a).resolve() for a in argv] or executable_pages()
    findings = [f for page in pages for f in typed_results(page)]
    for finding in findings:
        print(finding)
    print(f"{len(findings)} findings on {len({f.page for f in findings})} of {len(pages)} pages")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
