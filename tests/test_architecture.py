"""The package's shape: stages layered like the night (import-linter's contract, also run by
`make lint`), no import cycles between modules, no module too long to read in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

from pipeline.core.config import PROJECT_ROOT

MAX_MODULE_LINES = 400


def test_layers_contract_holds() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports)], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph("pipeline", cache_dir=None)
    edges = {
        module: graph.find_modules_directly_imported_by(module) - {module}
        for module in graph.modules
    }
    # depth-first search; a back edge closes a cycle
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_is_too_long() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): n
        for path in (PROJECT_ROOT / "pipeline").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_block_of_six_lines_is_written_twice_in_learn() -> None:
    """The model package says each thing once: no six consecutive code lines (stripped, blank
    and comment lines skipped, imports left out) appear twice in `pipeline/learn`."""
    window = 6
    seen: dict[tuple[str, ...], str] = {}
    repeated: list[str] = []
    for path in sorted((PROJECT_ROOT / "pipeline" / "learn").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        # Every line of an import statement, a parenthesised one over several lines included.
        import_lines = {
            number
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for number in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        }
        lines = [
            (number, text.strip())
            for number, text in enumerate(source.splitlines(), 1)
            if text.strip() and not text.strip().startswith("#") and number not in import_lines
        ]
        for start in range(len(lines) - window + 1):
            block = tuple(text for _, text in lines[start : start + window])
            if all(len(text) <= 3 for text in block):  # brackets and the like
                continue
            where = f"{path.relative_to(PROJECT_ROOT)}:{lines[start][0]}"
            if block in seen:
                repeated.append(f"{where} repeats {seen[block]}")
            seen.setdefault(block, where)
    assert repeated == [], "\n".join(repeated)
