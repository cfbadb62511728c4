"""The import direction between the top-level packages (docs/architecture.md): the command line
(`algobench`) sits above harness and scoring; scoring reads harness's logs; harness runs
workloads; submissions use harness's public API; nothing below imports what sits above it."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("algobench", "harness", "scoring", "workloads", "submissions", "algoperf",
            "algorithmic_efficiency")
# what each package may import of the others
ALLOWED = {
    "algobench": set(PACKAGES),
    "scoring": {"scoring", "harness", "workloads"},
    "harness": {"harness", "workloads"},
    "submissions": {"submissions", "harness"},
    "workloads": {"workloads"},
    "algoperf": {"algoperf", "harness", "workloads"},
    "algorithmic_efficiency": {"algorithmic_efficiency", "algoperf"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", [p for p in PACKAGES if (REPO / p).is_dir()])
def test_imports_point_one_way(package):
    wrong = {f"{path.relative_to(REPO)} imports {sorted(imported_packages(path) - ALLOWED[package])}"
             for path in sorted((REPO / package).rglob("*.py"))
             if imported_packages(path) - ALLOWED[package]}
    assert not wrong, "\n".join(sorted(wrong))


def test_the_checker_would_see_a_wrong_import(tmp_path):
    bad = tmp_path / "module.py"
    bad.write_text("import scoring.leaderboard\nfrom algobench import cli\n")
    assert imported_packages(bad) - ALLOWED["harness"] == {"scoring", "algobench"}


def test_every_backend_module_provides_the_backend_protocol():
    """harness/backends.py's `Backend` is the contract; each framework's module defines all of it
    (read from the source: importing both frameworks here would cost their start-up)."""
    from harness.backends import FRAMEWORKS, Backend

    wanted = {name for name in vars(Backend) if not name.startswith("_")}
    for framework in FRAMEWORKS:
        tree = ast.parse((REPO / "harness" / f"{framework}_backend.py").read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert wanted - defined == set(), f"harness/{framework}_backend.py lacks {wanted - defined}"


def test_the_workload_contract_is_abstract():
    from workloads.workload_base import WorkloadBase

    assert {"init_model_fn", "model_fn", "loss_fn", "eval_outputs", "to_canonical",
            "from_canonical"} <= WorkloadBase.__abstractmethods__


def test_no_module_is_over_400_lines():
    """Issue 25's house rule: a module over 400 lines is split by meaning."""
    long = {str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
            for package in ("harness", "algobench", "scoring", "workloads")
            for path in sorted((REPO / package).rglob("*.py"))}
    over = {path: lines for path, lines in long.items() if lines > 400}
    assert over == {}, f"split these modules by meaning: {over}"
