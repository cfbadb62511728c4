"""Where a training step's time goes in JAX and in PyTorch, top ops side by side (relative shares).

For one workload and the NAdamW baseline at search-space point 0, each framework in its own fresh
process, pinned like a trial (JAX: one host device per core):

- JAX: the baseline's jitted train step is lowered and compiled; XLA's cost analysis gives its
  total flops and bytes; then `--steps` steps run under `jax.profiler.trace` (a Perfetto trace),
  whose per-thunk events carry the HLO instruction names of the compiled step. Each instruction's
  time is summed over steps and devices and joined with the optimized HLO: its opcode (a fusion:
  the convolution, dot or reduce inside it, else elementwise) and the JAX primitive it came from
  (the HLO metadata's `op_name`). Rendezvous and waits inside collectives (the all-reduce over
  the host devices of the batch mesh) are shown apart.
- PyTorch: `--steps` steps of the baseline (`data_selection` and `update_params`) under
  `torch.profiler`; `key_averages()` by self CPU time.

Prints, per framework, the top `--top` entries by share of the profiled op time, and the shares
per op kind, side by side. Shares only: a profiler changes the timings it measures, and on a
shared machine the absolute figures mean nothing (benchmarks/step_time.py measures step times).

    .venv/bin/python benchmarks/jax_profile.py --workload cnn --steps 5
    .venv/bin/python benchmarks/jax_profile.py --workload lm --json results/profile_lm.json
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere
sys.path.insert(0, str(REPO / "benchmarks"))  # this folder's scripts

from step_time import Training  # noqa: E402  (the baseline's training state, as a trial sets it up)

SUBMISSION = "submissions/nadamw"
# `%name = shape opcode(operands), ...` in XLA's HLO text (the leading % is optional)
HLO_LINE = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = .*? ([a-z][\w\-]*)\(")
OP_NAME = re.compile(r'op_name="([^"]+)"')
CALLS = re.compile(r"calls=%?([\w.\-]+)")
WAITS = ("Rendezvous", "Wait: pending_threads")  # time a device waits for another in a collective


# -- JAX ----------------------------------------------------------------------------------------
def hlo_instructions(text: str) -> dict[str, dict]:
    """Every instruction of the optimized HLO: opcode, the computation a fusion calls, op_name."""
    out, computation, bodies = {}, None, collections.defaultdict(list)
    for line in text.splitlines():
        if line and not line[0].isspace() and "{" in line:  # a computation's header
            computation = line.split()[1 if line.startswith("ENTRY") else 0].lstrip("%")
            continue
        match = HLO_LINE.match(line)
        if not match:
            continue
        name, opcode = match.groups()
        op_name, calls = OP_NAME.search(line), CALLS.search(line)
        out[name] = {"opcode": opcode, "calls": calls.group(1) if calls else None,
                     "op_name": op_name.group(1) if op_name else None}
        bodies[computation].append(name)
    for info in out.values():  # a fusion: what it holds, and where it came from
        inside = [out[n] for n in bodies.get(info["calls"], [])]
        opcodes = {i["opcode"] for i in inside}
        heavy = [o for o in ("convolution", "dot", "reduce-window", "reduce", "scatter", "gather") if o in opcodes]
        info["kind"] = (f"fusion({heavy[0]})" if heavy else "fusion(elementwise)") if info["calls"] and \
            info["opcode"] == "fusion" else info["opcode"]
        if info["op_name"] is None:
            info["op_name"] = next((i["op_name"] for i in reversed(inside) if i["op_name"]), None)
    return out


def primitive(op_name: str | None) -> str:
    """'jit(_train_step)/transpose(jvp(Model))/blocks_0/conv1/conv_general_dilated' -> the module
    path's last two parts, with the direction (backward where transposed)."""
    if not op_name:
        return "-"
    parts = op_name.split("/")
    direction = "bwd " if any(p.startswith("transpose(") for p in parts) else ""
    return direction + "/".join(parts[-2:])


def profile_jax(workload: str, steps: int) -> dict:
    import jax

    t = Training.set_up(SUBMISSION, workload, "jax", None)
    batch, rng = next(t.queue), t.backend.make_rng(3)
    args = (t.params, t.model_state, t.opt["opt_state"], batch, rng)
    compiled = t.opt["train_step"].lower(*args).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    instructions = hlo_instructions(compiled.as_text())
    for i in range(2):  # compile and warm up, outside the trace
        t.step(i)
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            for i in range(steps):
                t.step(i)
        (trace_file,) = glob.glob(f"{tmp}/**/perfetto_trace.json.gz", recursive=True)
        trace = json.load(gzip.open(trace_file))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    per_op, waits = collections.Counter(), 0.0
    for event in events:
        if event.get("ph") != "X":
            continue
        if event["name"] in instructions:
            per_op[event["name"]] += event.get("dur", 0.0)
        elif event["name"].startswith(WAITS):
            waits += event.get("dur", 0.0)
    total = sum(per_op.values())
    ops = [{"op": name, "kind": instructions[name]["kind"], "from": primitive(instructions[name]["op_name"]),
            "share": t / total} for name, t in per_op.most_common()]
    kinds = collections.Counter()
    for op in ops:
        kinds[op["kind"]] += op["share"]
    return {"framework": "jax", "ops": ops, "kinds": dict(kinds.most_common()),
            "collective_wait_share": waits / total if total else None,
            "flops": cost.get("flops"), "bytes_accessed": cost.get("bytes accessed"),
            "devices": len(jax.devices())}


# -- PyTorch ------------------------------------------------------------------------------------
def profile_pytorch(workload: str, steps: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    t = Training.set_up(SUBMISSION, workload, "pytorch", None)
    for i in range(2):
        t.step(i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            t.step(i)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    ops = [{"op": e.key, "kind": e.key, "from": f"{e.count // steps} calls/step",
            "share": e.self_cpu_time_total / total} for e in rows if e.self_cpu_time_total > 0]
    return {"framework": "pytorch", "ops": ops, "kinds": {o["op"]: o["share"] for o in ops},
            "table": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)}


# -- both ---------------------------------------------------------------------------------------
def side_by_side(left: list[str], right: list[str], width: int) -> str:
    rows = max(len(left), len(right))
    left, right = left + [""] * (rows - len(left)), right + [""] * (rows - len(right))
    return "\n".join(f"{a:<{width}}  {b}" for a, b in zip(left, right))


def report(workload: str, jax_result: dict, torch_result: dict, top: int) -> str:
    def op_lines(result):
        return [f"{100 * o['share']:5.1f}%  {o['op'][:28]:<28} {o['kind'][:22]:<22} {o['from'][:38]}"
                for o in result["ops"][:top]]

    def kind_lines(result):
        return [f"{100 * s:5.1f}%  {k[:60]}" for k, s in list(result["kinds"].items())[:top]]

    width = 100
    gflops = (jax_result["flops"] or 0) / 1e9
    head = (f"{workload}: one training step of {SUBMISSION}, shares of each framework's profiled op time\n"
            f"JAX: {jax_result['devices']} device(s); XLA cost analysis: {gflops:.2f} GFLOP, "
            f"{(jax_result['bytes_accessed'] or 0) / 1e6:.1f} MB accessed per step; waits inside "
            f"collectives (rendezvous): {100 * (jax_result['collective_wait_share'] or 0):.1f}% of op time\n")
    return "\n".join([
        head, side_by_side(["JAX: top HLO instructions (share, name, kind, from)"] + op_lines(jax_result),
                           ["PyTorch: top ops by self CPU time (share, op, calls)"] + op_lines(torch_result), width),
        "", side_by_side(["JAX: by kind"] + kind_lines(jax_result), ["PyTorch: by op"] + kind_lines(torch_result),
                         width)])


def run_child(workload: str, framework: str, steps: int) -> dict:
    command = [sys.executable, __file__, "--child", workload, framework, "--steps", str(steps)]
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{workload} {framework} failed (its error is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="cnn")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps (after 2 warm-up steps)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json", help="also write both profiles here")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, framework = args.child
        profile = profile_jax if framework == "jax" else profile_pytorch
        print(json.dumps(profile(workload, args.steps)))
        return
    if args.json and not Path(args.json).parent.is_dir():
        sys.exit(f"--json {args.json}: folder {Path(args.json).parent} does not exist; create it first")
    jax_result = run_child(args.workload, "jax", args.steps)
    torch_result = run_child(args.workload, "pytorch", args.steps)
    print(report(args.workload, jax_result, torch_result, args.top))
    if args.json:
        Path(args.json).write_text(json.dumps({"workload": args.workload, "jax": jax_result,
                                               "pytorch": torch_result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
