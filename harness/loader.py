"""Loads a submission package and validates it before any training starts.

A package is a folder with `submission_pytorch.py` and/or `submission_jax.py`, an optional
`tuning_search_space.json` (external tuning; none means self-tuning) and a README. AlgoPerf's
layouts are read too: `pytorch/submission.py` and `jax/submission.py`, or one `submission.py`
whose imports say its framework (docs/algoperf.md); an AlgoPerf file is loaded through
`harness.algoperf_compat` (workload names for `get_batch_size`, `jax.pmap` files adapted).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

# clock: bound before any submission is imported
from harness import algoperf_compat, checker, clock, search_space  # noqa: F401
from harness.backends import FRAMEWORKS
from harness.spec import OPTIONAL_FUNCTIONS, REQUIRED_FUNCTIONS

SEARCH_SPACE_FILE = "tuning_search_space.json"


class SubmissionError(ValueError):
    """A submission that cannot run; the message is one line naming the file and the fix."""


def module_path(submission_dir: Path | str, framework: str) -> Path:
    """The framework's submission file: ours (`submission_<fw>.py`), else AlgoPerf's
    (`<fw>/submission.py`, or a lone `submission.py` written for that framework)."""
    folder = Path(submission_dir)
    ours = folder / f"submission_{framework}.py"
    if ours.exists():
        return ours
    for theirs in (folder / framework / "submission.py", folder / "submission.py"):
        if theirs.exists() and checker.framework_of_file(folder, theirs) == framework:
            return theirs
    return ours


def frameworks_of(submission_dir: Path | str) -> list[str]:
    return [fw for fw in FRAMEWORKS if module_path(submission_dir, fw).exists()]


def check_signature(path: Path, name: str, fn, keywords: tuple[str, ...]) -> None:
    """The function must accept every keyword the runner passes (or **kwargs), and need no others."""
    if not callable(fn):
        raise SubmissionError(f"{path}: `{name}` is not a function; define def {name}({', '.join(keywords)})")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(**{k: None for k in keywords})
    except TypeError as err:
        raise SubmissionError(
            f"{path}:{_line(fn)}: `{name}` has the wrong signature ({err}); "
            f"it must accept the keyword arguments {', '.join(keywords)}"
        ) from None


def _line(fn) -> int | str:
    try:
        return inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return "?"


def no_such_folder(folder: Path | str) -> str:
    """The message for a submission folder that is not there, with the closest folder beside it."""
    folder = Path(folder)
    parent = folder.parent if folder.parent.is_dir() else None
    siblings = [p.name for p in parent.iterdir() if p.is_dir()] if parent else []
    close = difflib.get_close_matches(folder.name, siblings, n=1)
    hint = f"did you mean {folder.parent / close[0]}?" if close else "`algobench new NAME` makes one"
    return f"{folder}: no such submission folder; {hint}"


def _violations(submission_dir: Path, frameworks: list[str]) -> list:
    """The checker's findings in the files these frameworks run: another framework's module is
    neither imported nor reported (`check --framework jax` with an unfinished PyTorch module)."""
    # full paths: in AlgoPerf's layout both frameworks' modules are named submission.py
    others = {module_path(submission_dir, fw).resolve() for fw in FRAMEWORKS
              if fw not in frameworks}
    return [v for v in checker.check_package(submission_dir) if Path(v.path).resolve() not in others]


def _unfilled(path: Path) -> str | None:
    """The first required function that is still a stub of the template (its body, past the
    docstring, only raises NotImplementedError), as a message; None when all are written."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in REQUIRED_FUNCTIONS:
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in (
                    ast.unparse(body[0].exc) if body[0].exc is not None else ""):
                return (f"{path}:{node.lineno}: `{node.name}` is still the template's stub (it "
                        "only raises NotImplementedError); write it, or delete this module if "
                        "you do not support this framework")
    return None


def hyperparameters_read(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every `hyperparameters.NAME` and `hyperparameters["NAME"]` in a module: the
    names its functions need in their `hyperparameters` argument. A read with a default
    (`hyperparameters.get(NAME, default)`) is optional and not listed; nor is a read through
    another variable name (a helper's `hp.NAME`), which this does not follow."""
    methods = set(dir(Mapping))
    found = []
    for node in ast.walk(ast.parse(path.read_bytes().decode("utf-8"))):
        if not (isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.value, ast.Name)
                and node.value.id == "hyperparameters" and isinstance(node.ctx, ast.Load)):
            continue
        if isinstance(node, ast.Attribute) and node.attr not in methods and not node.attr.startswith("_"):
            found.append((node.lineno, node.attr))
        elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, str)):
            found.append((node.lineno, node.slice.value))
    return sorted(found)


def _undefined_hyperparameter(submission_dir: Path, path: Path) -> str | None:
    """The first hyperparameter the module reads that its package's search space does not define,
    as a message; None when there is none (or no search space: self-tuning gets none at all)."""
    space_path = submission_dir / SEARCH_SPACE_FILE
    if not space_path.exists():
        return None
    try:
        defined = set(search_space.names(search_space.load(space_path)))
    except search_space.SearchSpaceError:
        return None  # reported by whoever reads the search space
    for line, name in hyperparameters_read(path):
        if name not in defined:
            return (f"{path}:{line}: reads hyperparameters.{name}, which {space_path} does not "
                    f"define; add it to the search space, or read it with "
                    f"hyperparameters.get({name!r}, default)")
    return None


def load_submission(submission_dir: Path | str, framework: str) -> ModuleType:
    """Check the package's source (`harness.checker`), then import and validate its module."""
    submission_dir = Path(submission_dir).resolve()
    if not submission_dir.is_dir():
        raise SubmissionError(no_such_folder(submission_dir))
    violations = _violations(submission_dir, [framework])
    if violations:
        more = f" (and {len(violations) - 1} more: `algobench check` lists them)" if len(violations) > 1 else ""
        raise SubmissionError(f"{violations[0]}{more}")
    path = module_path(submission_dir, framework)
    if not path.exists():
        have = frameworks_of(submission_dir)
        raise SubmissionError(
            f"{path}: missing; this submission supports {', '.join(have) or 'no framework'} "
            f"(add {path.name} to run it in {framework})"
        )
    name = f"algobench_submission_{submission_dir.name}_{framework}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the package's own helper modules
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        frame = traceback.extract_tb(err.__traceback__)[-1]
        raise SubmissionError(
            f"{frame.filename}:{frame.lineno}: importing the submission failed: "
            f"{type(err).__name__}: {err}"
        ) from err
    finally:
        sys.path.remove(str(path.parent))
    for fn_name, keywords in REQUIRED_FUNCTIONS.items():
        if not hasattr(module, fn_name):
            raise SubmissionError(
                f"{path}: missing function `{fn_name}({', '.join(keywords)})`; see docs/submitting.md"
            )
        fn = getattr(module, fn_name)
        if fn_name == "update_params" and not algoperf_compat.accepts(fn, "train_state"):
            keywords = tuple(k for k in keywords if k != "train_state")  # AlgoPerf's v0.5 API
        check_signature(path, fn_name, fn, keywords)
    for fn_name, keywords in OPTIONAL_FUNCTIONS.items():
        if hasattr(module, fn_name):
            check_signature(path, fn_name, getattr(module, fn_name), keywords)
    problem = _unfilled(path) or _undefined_hyperparameter(submission_dir, path)
    if problem:
        raise SubmissionError(problem)
    return _adapted(module, path, framework)


def _adapted(module: ModuleType, path: Path, framework: str):
    """The module as the runner calls it: an AlgoPerf file through `AlgoPerfSubmission`, a JAX
    file written for `jax.pmap` through `harness.algoperf_pmap` (which imports JAX)."""
    if framework == "jax" and algoperf_compat.uses_pmap(path):
        from harness.algoperf_pmap import PmapSubmission

        return PmapSubmission(algoperf_compat.AlgoPerfSubmission(module, path))
    if algoperf_compat.is_algoperf_file(path):
        return algoperf_compat.AlgoPerfSubmission(module, path)
    return module


def check_submission(submission_dir: Path | str, frameworks: list[str] | None = None) -> tuple[list[str], str]:
    """Every problem `algobench check` reports (one line each), and the ruleset the package is for.

    Static rules first; the modules are imported only when the source passes them.
    """
    folder = Path(submission_dir)
    if not folder.is_dir():
        return [no_such_folder(folder)], ""
    frameworks = frameworks or frameworks_of(folder)
    if not frameworks:
        return [f"{folder}: no submission_pytorch.py or submission_jax.py "
                "(nor AlgoPerf's <framework>/submission.py) found"], ""
    problems = [str(v) for v in _violations(folder, frameworks)]
    if not problems:
        for framework in frameworks:
            try:
                load_submission(folder, framework)
            except SubmissionError as err:
                problems.append(str(err))
    space_path = folder / SEARCH_SPACE_FILE
    ruleset = "self-tuning (no search space)"
    if space_path.exists():
        try:
            space = search_space.load(space_path)
            ruleset = f"external tuning, {search_space.num_points(space) or 'quasi-random'} points"
        except search_space.SearchSpaceError as err:
            problems.append(str(err))
    return problems, ruleset
