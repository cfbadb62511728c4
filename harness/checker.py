"""Static checks of a submission package: the rules a submission must follow that can be read off
its source, each reported as `file:line: [rule] what; fix`. Nothing is imported or run here; the
loader's import-time checks (functions, signatures) and the runner's run-time guards do the rest.

The rules (docs/submitting.md explains the reason for each):
  harness-internals  import only `harness.spec` from the harness; never `workloads` or `scoring`
  other-framework    a PyTorch module imports no JAX stack, a JAX module no torch
  eval-data          no paths, environment variables or loaders that reach the benchmark's data
  concurrency        no threads, processes or async work (it could compute while the clock stops)
  clock              no reading of clocks (the harness owns time)
  monkeypatch        no assigning into other modules or the workload object
  fingerprinting     no identifying the workload beyond `get_batch_size` (comparing parameter
                     shapes or counts with constants, reading private workload attributes)
  dependencies       third-party imports only from the framework stack or `requirements.txt`
                     (which lists distributions, e.g. `scikit-learn`, whose import names, e.g.
                     `sklearn`, are read from the installed packages' metadata)
  source             every file is UTF-8 text and every module parses

AlgoPerf's own files are accepted as they are (docs/algoperf.md): `algoperf` and
`algorithmic_efficiency` (this project's compatibility package) and `absl` are always allowed,
AlgoPerf's folder layout (`pytorch/submission.py`, `jax/submission.py`) is read with each file's
framework, and a PyTorch file may use optax for its learning-rate schedule only (`OPTAX_SCHEDULE_NAMES`).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.algoperf_compat import imported_modules

REQUIREMENTS_FILE = "requirements.txt"
FRAMEWORK_STACKS = {
    "pytorch": {"torch"},
    "jax": {"jax", "jaxlib", "flax", "optax", "chex"},
}
ALWAYS_ALLOWED = {"numpy", "scipy", "harness", "submissions", "algoperf", "algorithmic_efficiency", "absl"}
# What a PyTorch file may take from optax: schedule functions, evaluated on the CPU (AlgoPerf's
# momentum and Nesterov baselines build their PyTorch schedule this way). Anything else of optax
# in a PyTorch file is the other framework.
OPTAX_SCHEDULE_NAMES = {"join_schedules", "schedules", "Schedule"}
SHARED_PACKAGE = "submissions.common"  # the baselines' shared pieces, part of this project
FORBIDDEN_MODULES = {
    "threading": "concurrency", "_thread": "concurrency", "multiprocessing": "concurrency",
    "concurrent": "concurrency", "subprocess": "concurrency", "asyncio": "concurrency",
    "torch.multiprocessing": "concurrency", "signal": "concurrency",
    "timeit": "clock",
}
FORBIDDEN_CALLS = {
    ("os", "fork"): "concurrency", ("os", "system"): "concurrency", ("os", "popen"): "concurrency",
    ("os", "forkpty"): "concurrency", ("os", "posix_spawn"): "concurrency",
    ("time", "time"): "clock", ("time", "perf_counter"): "clock", ("time", "monotonic"): "clock",
    ("time", "process_time"): "clock", ("time", "thread_time"): "clock",
    ("time", "time_ns"): "clock", ("time", "perf_counter_ns"): "clock",
    ("time", "monotonic_ns"): "clock", ("time", "process_time_ns"): "clock",
    ("time", "clock_gettime"): "clock", ("datetime", "now"): "clock",
    ("datetime", "utcnow"): "clock", ("os", "getenv"): "eval-data",
}
CLOCK_NAMES = {name for (module, name), rule in FORBIDDEN_CALLS.items() if module == "time"}
DATA_PATTERN = re.compile(
    r"/usr/share/datasets|fashion[-_]mnist|t10k-|idx[13]-ubyte|\.cache/algobench|ALGOBENCH_", re.I)
SHAPE_WORDS = {"param_shapes", "model_params_types", "shape", "numel", "size", "ndim"}
FIXES = {
    "harness-internals": "import only harness.spec",
    "other-framework": "keep each framework's code in its own module",
    "eval-data": "train only on the batches data_selection receives",
    "concurrency": "do all work inside the submission functions, on the calling thread",
    "clock": "read the remaining time from train_state",
    "monkeypatch": "keep state in optimizer_state instead",
    "fingerprinting": "choose hyperparameters without identifying the workload",
    "dependencies": f"list the package's distribution (its name on PyPI) in the submission's "
                    f"{REQUIREMENTS_FILE}",
    "source": "make it UTF-8 text that Python parses (`python -m py_compile FILE` shows where)",
}


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}; {FIXES[self.rule]}"


def distribution_name(name: str) -> str:
    """A distribution's name in its normalized form (PEP 503): `Scikit_Learn` -> `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_text(path: Path) -> str:
    """A package file's text; UnicodeDecodeError when it is not UTF-8 (`not_utf8` reports it)."""
    return path.read_bytes().decode("utf-8")


def not_utf8(path: Path, err: UnicodeDecodeError) -> Violation:
    line = err.object[:err.start].count(b"\n") + 1
    return Violation(path, line, "source", f"not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                                           f"at offset {err.start})")


def declared_requirements(folder: Path) -> set[str]:
    """The distributions listed in the submission's requirements.txt, normalized (PEP 503).
    UnicodeDecodeError when the file is not UTF-8."""
    path = folder / REQUIREMENTS_FILE
    if not path.exists():
        return set()
    names = set()
    for line in read_text(path).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(distribution_name(re.split(r"[<>=!~\[; @]", line, maxsplit=1)[0]))
    return names


@functools.lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    """Import name -> the installed distributions providing it (scanning them all takes a while)."""
    return importlib.metadata.packages_distributions()


def distributions_of(top: str) -> list[str]:
    """The installed distributions that provide the import name `top` (normalized), e.g.
    `sklearn` -> [`scikit-learn`]; [] when none is installed."""
    return sorted({distribution_name(d) for d in _installed().get(top, [])})


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: Path, framework: str | None, local_modules: set[str], declared: set[str]):
        self.path, self.framework = path, framework
        self.local_modules, self.declared = local_modules, declared
        self.violations: list[Violation] = []
        self.module_aliases: dict[str, str] = {}  # local name -> imported module path
        self.shape_derived: set[str] = set()  # names assigned from parameter shapes or counts

    def flag(self, node: ast.AST, rule: str, message: str) -> None:
        self.violations.append(Violation(self.path, getattr(node, "lineno", 0), rule, message))

    # -- imports ---------------------------------------------------------------------------------
    def check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        for forbidden, rule in FORBIDDEN_MODULES.items():
            if module == forbidden or module.startswith(forbidden + "."):
                self.flag(node, rule, f"imports {module}")
                return
        if top == "harness" and module != "harness" and module != "harness.spec":
            self.flag(node, "harness-internals", f"imports {module}")
        elif top in ("workloads", "scoring"):
            self.flag(node, "harness-internals" if top == "scoring" else "eval-data", f"imports {module}")
        elif top == "submissions" and not (module == SHARED_PACKAGE or module.startswith(SHARED_PACKAGE + ".")):
            self.flag(node, "harness-internals", f"imports another submission ({module})")
        elif self.framework == "pytorch" and module == "optax":
            return  # its uses are checked one by one (visit_Attribute, visit_ImportFrom)
        elif self.framework and any(top in stack for fw, stack in FRAMEWORK_STACKS.items() if fw != self.framework):
            self.flag(node, "other-framework", f"the {self.framework} module imports {top}")
        elif not self.is_allowed_package(top):
            provided_by = distributions_of(top)
            listed = (f"; {REQUIREMENTS_FILE} lists {', '.join(sorted(self.declared))}"
                      if self.declared else "")
            self.flag(node, "dependencies", f"imports {top}, which is not declared" + (
                f" (it comes from the distribution {' or '.join(provided_by)}{listed})"
                if provided_by else ""))

    def is_allowed_package(self, top: str) -> bool:
        stack = set().union(*FRAMEWORK_STACKS.values()) if self.framework is None else FRAMEWORK_STACKS[self.framework]
        if (top in sys.stdlib_module_names or top in ALWAYS_ALLOWED or top in stack
                or top in self.local_modules):
            return True
        # an installed import name is declared by its distribution's name (`scikit-learn` for
        # `sklearn`); one not installed, by its own name
        return any(d in self.declared for d in distributions_of(top) or [distribution_name(top)])

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_module(node, alias.name)
            self.module_aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:  # relative import of the package's own modules
            return
        module = node.module or ""
        self.check_module(node, module)
        for alias in node.names:
            if self.framework == "pytorch" and module == "optax" and not _is_optax_schedule(alias.name):
                self.flag(node, "other-framework", f"the pytorch module imports optax.{alias.name} "
                          "(only optax's schedules are allowed in a PyTorch module)")
            full = f"{module}.{alias.name}"
            if full in FORBIDDEN_MODULES:
                self.check_module(node, full)
            rule = FORBIDDEN_CALLS.get((module.split(".")[-1], alias.name))
            if rule:
                self.flag(node, rule, f"imports {alias.name} from {module}")
            self.module_aliases[alias.asname or alias.name] = full

    # -- calls, attributes, strings --------------------------------------------------------------
    def dotted(self, node: ast.AST) -> tuple[str, str] | None:
        """(module, attribute) for `alias.attr` where alias names an imported module."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = self.module_aliases.get(node.value.id, node.value.id)
            return module.split(".")[-1], node.attr
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        pair = self.dotted(node)
        if pair and pair in FORBIDDEN_CALLS:
            self.flag(node, FORBIDDEN_CALLS[pair], f"uses {pair[0]}.{pair[1]}")
        if (pair and pair[0] == "optax" and self.framework == "pytorch"
                and self.module_aliases.get(node.value.id) == "optax" and not _is_optax_schedule(pair[1])):
            self.flag(node, "other-framework", f"the pytorch module uses optax.{pair[1]} "
                      "(only optax's schedules are allowed in a PyTorch module)")
        if pair and pair[0] == "os" and pair[1] == "environ":
            self.flag(node, "eval-data", "reads os.environ")
        if pair and pair[0] == "os" and (pair[1].startswith("spawn") or pair[1].startswith("exec")):
            self.flag(node, "concurrency", f"uses os.{pair[1]}")
        if isinstance(node.value, ast.Name) and node.value.id == "workload" and node.attr.startswith("_"):
            self.flag(node, "fingerprinting", f"reads the private workload attribute {node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args:
            target = node.args[0]
            if isinstance(target, ast.Name) and (target.id == "workload" or target.id in self.module_aliases):
                self.flag(node, "monkeypatch", f"calls {node.func.id} on {target.id}")
        is_import_call = (isinstance(node.func, ast.Name) and node.func.id == "__import__") or (
            self.dotted(node.func) == ("importlib", "import_module"))
        if is_import_call and node.args and isinstance(node.args[0], ast.Constant):
            self.check_module(node, str(node.args[0].value))
        elif is_import_call:
            self.flag(node, "dependencies", "imports a module whose name is computed at run time")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and DATA_PATTERN.search(node.value):
            self.flag(node, "eval-data", f"names the benchmark's data ({node.value[:40]!r})")

    # -- assignments into other objects -----------------------------------------------------------
    def check_target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = target.value.id
            if owner == "workload":
                self.flag(target, "monkeypatch", f"assigns workload.{target.attr}")
            elif owner in self.module_aliases:
                self.flag(target, "monkeypatch", f"assigns {owner}.{target.attr}")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.check_target(target)
            if isinstance(target, ast.Name) and self.mentions_shapes(node.value):
                self.shape_derived.add(target.id)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.check_target(node.target)
        self.generic_visit(node)

    # -- fingerprinting: parameter shapes or counts compared with constants ------------------------
    def mentions_shapes(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and sub.attr in SHAPE_WORDS:
                return True
            if isinstance(sub, ast.Name) and (sub.id in SHAPE_WORDS or sub.id in self.shape_derived):
                return True
        return False

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        literal = any(isinstance(s, (ast.Constant, ast.Tuple, ast.List)) and _is_numeric_literal(s)
                      for s in sides)
        if literal and any(self.mentions_shapes(s) for s in sides):
            self.flag(node, "fingerprinting", "compares parameter shapes or counts with a constant")
        self.generic_visit(node)


def _is_optax_schedule(name: str) -> bool:
    return name in OPTAX_SCHEDULE_NAMES or name.endswith("_schedule")


def _is_numeric_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value not in (0, 1, 2)
    return isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
        isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts)


def check_file(path: Path, framework: str | None, local_modules: set[str], declared: set[str]) -> list[Violation]:
    try:
        tree = ast.parse(read_text(path), filename=str(path))
    except UnicodeDecodeError as err:
        return [not_utf8(path, err)]
    except SyntaxError as err:
        return [Violation(path, err.lineno or 0, "source", f"syntax error: {err.msg}")]
    visitor = _Visitor(path, framework, local_modules, declared)
    visitor.visit(tree)
    return visitor.violations


def framework_of_file(folder: Path, path: Path) -> str | None:
    """The framework a package file is for: `submission_<fw>.py`; in AlgoPerf's layout, every file
    of `<fw>/`, and a lone `submission.py` by the stack it imports; None for shared helpers."""
    if path.parent != folder:
        return path.parent.name
    if path.name == "submission.py":
        imports = imported_modules(path)
        return next((fw for fw, stack in FRAMEWORK_STACKS.items() if imports & stack), None)
    return next((fw for fw in FRAMEWORK_STACKS if path.name == f"submission_{fw}.py"), None)


def check_package(folder: Path | str) -> list[Violation]:
    """Every rule violation in the package's Python files, in file and line order: the folder's
    own, and those of AlgoPerf's framework folders `pytorch/` and `jax/`."""
    folder = Path(folder)
    files = sorted(folder.glob("*.py"))
    for framework in FRAMEWORK_STACKS:
        files += sorted((folder / framework).glob("*.py"))
    violations = []
    try:
        declared = declared_requirements(folder)
    except UnicodeDecodeError as err:
        declared = set()
        violations.append(not_utf8(folder / REQUIREMENTS_FILE, err))
    for path in files:
        local_modules = {p.stem for p in path.parent.glob("*.py")}
        violations += check_file(path, framework_of_file(folder, path), local_modules, declared)
    return sorted(violations, key=lambda v: (str(v.path), v.line))
