"""Every result the docs quote can be traced to a results file: `python bench/check_citations.py`.

A *result* is a number written with three or more decimals (0.1435, 0.8975) in README.md,
docs/*.md or bench/README.md. Its paragraph (a table counts as one; so does a list item with
its continuation lines) must link at least one file under bench/results/, and one of the linked
files must hold that number, exactly or rounded to the digits quoted. Every linked results file
must say when it was measured (a YYYY-MM-DD date) and by which command (`Command:`). Exit 1 with
one line per problem; `make lint` and the test suite run it.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ("README.md", "docs/*.md", "bench/README.md")
# the settings reference lists defaults (`recsys settings-reference` writes it), not results
NOT_RESULTS = {"docs/settings.md"}
RESULT = re.compile(r"(?<![\w.])-?\d+\.\d{3,}(?![\w.])")
LINK = re.compile(r"\]\(([^)]*results/[^)#]+\.md)(?:#[^)]*)?\)")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
NUMBER = re.compile(r"-?\d+\.\d+")


def paragraphs(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each blank-line separated block; a fenced code block is
    not prose and is left out."""
    out: list[tuple[int, str]] = []
    block: list[str] = []
    start, fenced = 0, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.strip():
            start = start if block else number
            block.append(line)
        elif block:
            out.append((start, "\n".join(block)))
            block = []
    if block:
        out.append((start, "\n".join(block)))
    return out


def holds(values: list[Decimal], cited: str) -> bool:
    """Whether a value of the results file is `cited`, exactly or rounded to its digits."""
    want = Decimal(cited)
    quantum = Decimal(1).scaleb(want.as_tuple().exponent)
    return any(v == want or v.quantize(quantum) == want for v in values)


def problems(root: Path = ROOT) -> list[str]:
    found: list[str] = []
    cache: dict[Path, str] = {}
    for pattern in DOCS:
        for doc in sorted(root.glob(pattern)):
            where = doc.relative_to(root)
            if where.as_posix() in NOT_RESULTS:
                continue
            for line, block in paragraphs(doc.read_text(encoding="utf-8")):
                cited = RESULT.findall(block)
                links = [(doc.parent / link).resolve() for link in LINK.findall(block)]
                files = [p for p in links if p.is_file()]
                for missing in sorted({str(p) for p in links} - {str(p) for p in files}):
                    found.append(
                        f"{where}:{line}: links a results file that does not exist: {missing}"
                    )
                for path in files:
                    if path not in cache:
                        cache[path] = path.read_text(encoding="utf-8")
                        if not DATE.search(cache[path]) or "Command:" not in cache[path]:
                            found.append(f"{path.relative_to(root)}: says no date or no `Command:`")
                if not cited:
                    continue
                if not files:
                    found.append(f"{where}:{line}: quotes {cited[0]} without a bench/results link")
                    continue
                values = [Decimal(v) for p in files for v in NUMBER.findall(cache[p])]
                for number in cited:
                    if not holds(values, number):
                        names = ", ".join(p.name for p in files)
                        found.append(f"{where}:{line}: {number} is in none of {names}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s)" if found else "every quoted result is in its results file")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
