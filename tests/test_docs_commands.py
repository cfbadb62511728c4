"""Every command of docs/submitting.md and docs/adding_a_variant.md, run as a new user would run it
(in a fresh folder, in the order of the guide) on the smoke workload with tiny counts, and the
outputs the guides quote compared with the registry: the guides cannot drift from the code.

What is substituted, and why (nothing else is): the suite's workloads become `smoke` and the
counts shrink (`TINY`), so that the guide runs in minutes; the prose steps the commands rely on
are done by the test (step 1's "fill in init_optimizer_state and update_params", here with plain
SGD as tests/test_submit_path.py does); `algobench`/`.venv/bin/algobench` is this checkout's
command line, and pytest runs without its parallel workers.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_submit_path import JAX_INIT, JAX_UPDATE, TORCH_INIT, TORCH_UPDATE, fill

REPO = Path(__file__).resolve().parents[1]
SUBMITTING = REPO / "docs" / "submitting.md"
VARIANT = REPO / "docs" / "adding_a_variant.md"

TINY = [  # (pattern, replacement): the suite's sizes made tiny, applied in order
    (r"\b(cnn_silu|cnn)\b", "smoke"),
    (r"--studies \d+", "--studies 1"),
    (r"^(algobench tune .*)--trials \d+", r"\1--trials 1"),
    (r"--budget \d+", "--budget 3"),
    (r"^\.venv/bin/", ""),
]

# docs/submitting.md's step 5: it exited 2 whenever both frameworks were tuned (issue 22)
SCORE_WITH_BASELINE = "algobench score results/my_sgd results/nadamw --baseline nadamw --out results/scores"


def fenced_blocks(path: Path) -> list[tuple[str, str]]:
    """(info string, text) of every fenced block of a guide, in order."""
    blocks, info, lines = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith("```") and info is None:
            info, lines = line[3:].strip(), []
        elif line.startswith("```"):
            blocks.append((info, "\n".join(lines)))
            info = None
        elif info is not None:
            lines.append(line)
    return blocks


def shell_commands(path: Path) -> list[str]:
    """The commands of a guide's ```bash blocks, one per line, comments removed."""
    return [" ".join(shlex.split(line, comments=True)) for info, block in fenced_blocks(path)
            if info == "bash" for line in block.splitlines() if shlex.split(line, comments=True)]


def tiny(command: str) -> str:
    for pattern, replacement in TINY:
        command = re.sub(pattern, replacement, command)
    return command


def argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "algobench":
        return [sys.executable, "-m", "algobench.cli", *words[1:]]
    if words[0] == "pytest":
        return [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", *words[1:]]
    raise AssertionError(f"{command!r}: a guide command this test does not know how to run")


def run_guide(path: Path, folder: Path, after: dict | None = None) -> dict[str, subprocess.CompletedProcess]:
    """Run every command of the guide in `folder` (pytest in the repository, whose tests it names);
    `after[command](folder)` does the prose step that follows a command. Stops at the first
    command that fails."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    results = {}
    for command in shell_commands(path):
        small = tiny(command)
        results[command] = result = subprocess.run(
            argv(small), cwd=REPO if small.startswith("pytest") else folder, env=env,
            capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            break
        (after or {}).get(command, lambda _: None)(folder)
    return results


def fill_my_sgd(folder: Path) -> None:
    """Step 1's prose: fill in init_optimizer_state and update_params (plain SGD), and a
    one-point search space."""
    package = folder / "submissions" / "my_sgd"
    fill(package / "submission_pytorch.py", TORCH_INIT, TORCH_UPDATE)
    fill(package / "submission_jax.py", JAX_INIT, JAX_UPDATE)
    (package / "tuning_search_space.json").write_text(json.dumps([{"learning_rate": 0.05}]))


def fresh_folder(folder: Path) -> Path:
    """A folder as the guides' commands expect their working folder: `submissions/nadamw` (the
    reference baseline) is there, as in a clone of the repository."""
    (folder / "submissions").mkdir()
    (folder / "submissions" / "nadamw").symlink_to(REPO / "submissions" / "nadamw")
    return folder


@pytest.fixture(scope="module")
def submitting(tmp_path_factory):
    folder = fresh_folder(tmp_path_factory.mktemp("submitting"))
    return run_guide(SUBMITTING, folder, after={"algobench new my_sgd": fill_my_sgd})


def test_the_guides_name_every_workload_they_tune():
    """`tune` without `--workloads` runs the default set, many minutes of trials the reader did
    not choose: every guide command names its workloads."""
    for path in (SUBMITTING, VARIANT):
        for command in shell_commands(path):
            if command.startswith("algobench tune"):
                assert "--workloads" in command, f"{path.name}: {command}"


def assert_all_ran(path: Path, results: dict) -> None:
    for command, result in results.items():
        assert result.returncode == 0, (f"{path.name}: {tiny(command)}\n{result.stdout[-3000:]}\n"
                                        f"{result.stderr[-3000:]}")
    assert list(results) == shell_commands(path)


def test_every_command_of_the_submitting_guide_runs(submitting):
    assert_all_ran(SUBMITTING, submitting)
    dry_run = next(r for c, r in submitting.items() if "--dry-run" in c)
    assert "estimated time" in dry_run.stdout and "nothing was run or written" in dry_run.stdout


def test_the_submitting_guide_scores_against_the_baseline(submitting):
    result = submitting[SCORE_WITH_BASELINE]
    assert result.returncode == 0, result.stderr


def test_every_command_of_the_variant_guide_runs(tmp_path):
    assert_all_ran(VARIANT, run_guide(VARIANT, fresh_folder(tmp_path)))


def quoted_blocks(path: Path) -> list[str]:
    """The guide's untagged fenced blocks: the outputs it quotes."""
    return [text for info, text in fenced_blocks(path) if info == ""]


def test_the_variant_guide_quotes_the_registry():
    from workloads.registry import get_spec, pending_message

    spec = get_spec("cnn_silu")
    fields, = [b for b in quoted_blocks(VARIANT) if "validation_target=" in b]
    quoted = dict(re.findall(r"(\w+)=([0-9.]+),", fields))
    assert quoted == {k: str(getattr(spec, k)) for k in quoted}
    assert set(quoted) == {"validation_target", "test_target", "step_hint", "max_runtime_sec"}

    quoted_message, = [b.strip() for b in quoted_blocks(VARIANT) if "no validation" in b]
    assert quoted_message == pending_message("cnn_silu")


def test_the_variant_guide_quotes_algobench_workloads(capsys):
    from algobench.cli import main

    line, = [b.strip() for b in quoted_blocks(VARIANT) if b.startswith("cnn_silu ")]
    assert main(["workloads"]) == 0
    shown = [l for l in capsys.readouterr().out.splitlines() if l.startswith("cnn_silu ")]
    assert [l.split() for l in shown] == [line.split()]


def test_every_spec_has_its_targets_section():
    """`targets_source="docs/targets.md#NAME"` points at a `## `NAME`` heading (the variant guide's
    step 5)."""
    from workloads.registry import PENDING, REGISTRY

    headings = set(re.findall(r"^## `(\w+)`$", (REPO / "docs" / "targets.md").read_text(), flags=re.M))
    for spec in [*REGISTRY.values(), *PENDING.values()]:
        source = spec.targets_source or ""
        if source.startswith("docs/targets.md#"):
            assert source.split("#", 1)[1] in headings, f"{spec.name}: {source} has no section"


def top_level_names(path: Path) -> set[str]:
    """The functions, classes and constants a module defines, read from its source (importing
    the JAX and torch modules here would start both frameworks in the test process)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):  # re-exported: `from harness.spec import x as y`
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def test_the_shared_api_the_guide_lists_exists():
    """docs/submitting.md's table of `submissions.common`: every name it lists is there."""
    text = SUBMITTING.read_text()
    rows = re.findall(r"^\| `(submissions\.common[\w.]*)` \| (.*) \|$", text, flags=re.M)
    assert len(rows) == 7
    for module_name, cell in rows:
        parts = module_name.split(".")
        path = REPO.joinpath(*parts, "__init__.py") if len(parts) == 2 else REPO.joinpath(*parts[:-1], parts[-1] + ".py")
        names = re.findall(r"`(\w+)`", cell.split(":")[0])
        assert names, module_name
        assert set(names) <= top_level_names(path), (module_name, set(names) - top_level_names(path))
