"""What the harness costs on top of the training it times: a real trial against a bare loop.

Per workload and framework, in one fresh process (pinned to the same cores as a trial), repeated
`--repeats` times with the order alternating (harness first in even repeats, bare first in odd):

- harness: a real trial through the runner (`harness.runner.TrialRunner`) with the NAdamW
  baseline at its first search-space point, its submission in a process of its own as
  `algobench run` runs it (`--isolation in-process`: in this process, as before the split), for
  `--warmup + --steps` steps (the spec's `max_steps`), targets out of reach and no calibration.
  It evaluates at two steps, `--warmup` and `--warmup + --steps`, and keeps snapshots at the
  workload's own snapshot period (reference-host seconds; or, with `--eval-period`, a tenth of
  that eval period), so that its syncs and calls are spaced as in a real trial. Its
  seconds per step are read from the runner's own records: the submission time (`score`) of the
  two eval rows over the steps between them, so the first steps (compilation,
  `init_optimizer_state`) stay out as they do in the bare loop. Each account the ledger kept
  besides `submission` (setup, eval, checkpoint, logging, other) is reported as its share of the
  trial's wall time (meta.json's `final`): with two evals in a short trial, the eval and setup
  shares are larger than a full trial's.
- bare: the same model (the workload's own init), the same optimizer (torch.optim NAdam as the
  baseline builds it / `optax.nadamw`, same schedule and hyperparameters), the same batches
  (the trial's stream, assembled and moved to the device before the loop), written the plain way:
  PyTorch forward, loss, backward, step; JAX one jitted step. `--warmup` steps, then `--steps`
  steps timed with one device sync at each end (no per-step sync, as a plain loop has none; JAX
  waits for the step before after queuing a step, as a trial does: with every step queued,
  XLA:CPU's all-reduce across host devices deadlocks, benchmarks/xla_cpu_allreduce_deadlock.py).

The bare loop is a lower bound: it does no batch assembly, no transfer and no full sync. So
the harness/bare ratio holds everything the harness adds on the clock, the rules' own costs
(`data_selection` pulls and moves the batch on the clock) included. To split the two, each repeat
also runs the bare loop with its batches assembled and moved in the loop (`bare, batches in the
loop`: the next batch of the trial's stream and its transfer, on the clock, as `data_selection`
does): harness / that loop is what the harness adds beyond the rules' own work. `--compare-sync` also runs
the harness trial with a device sync after every step (`TrialRunner(sync_every_step=True)`, the
runner before issue 28) in each repeat, and `--compare-steps-per-call` with one step a round trip
to the submission process (`TrialRunner(max_steps_per_call=1)`, the runner before
docs/performance.md#steps-per-call), the measurements in turn, and prints their ratios next to
today's (benchmarks/gpu_overhead.sh, on a GPU, where the differences show).

Prints per workload and framework: harness and bare ms/step, median [min, max] over the repeats,
the ratios (median of the per-repeat ratios, [min, max]) and each non-submission account's share
of the trial's wall time (median). `--out` writes every repeat as JSON, with the host, for
benchmarks/harness_overhead_table.py (docs/performance.md).

    .venv/bin/python benchmarks/harness_overhead.py --out docs/data/harness_overhead.json
    .venv/bin/python benchmarks/harness_overhead.py --workloads smoke --repeats 1 --steps 5  # a test
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from harness.backends import FRAMEWORKS  # noqa: E402
from harness.logs import TIME_ACCOUNTS  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402
from workloads.spec import SNAPSHOTS_PER_EVAL  # noqa: E402

SUBMISSION = "submissions/nadamw"
OFF_CLOCK = tuple(a for a in TIME_ACCOUNTS if a != "submission")  # the accounts off the clock
# the runners measured beside today's, each with a flag: a device sync after every step (the
# runner before issue 28) and one step a round trip (before docs/performance.md#steps-per-call)
VARIANTS = {"harness_sync_every_step": ("compare_sync", "sync every step", {"sync_every_step": True}),
            "harness_one_step_a_call": ("compare_steps_per_call", "one step a call",
                                        {"max_steps_per_call": 1})}
EPSILON = 1e-8  # the NAdamW baseline's


# -- in the child process: one workload and framework ------------------------------------------
class Setting:
    """What both measurements share: backend, spec, hyperparameters, data, the batches."""

    def __init__(self, workload: str, framework: str, threads: int | None, steps: int, warmup: int):
        from harness import backends, loader, search_space
        from harness.spec import Hyperparameters
        from workloads.registry import get_spec
        from workloads.sources import load_source

        self.cores = backends.pin_cores(threads)
        if framework == "jax":  # as a trial does: one host device per core
            backends.use_jax_host_devices(len(self.cores))
        self.framework, self.steps, self.warmup = framework, steps, warmup
        self.backend = backends.load_backend(framework)
        self.backend.configure_threads(len(self.cores))
        spec = get_spec(workload, pending_ok=True)
        # NAdamW ends training at 1.2 step hints (submissions.common.data_selection): a step hint
        # past the measured steps keeps both loops training through all of them
        self.spec = dataclasses.replace(spec, step_hint=max(spec.step_hint, warmup + steps))
        self.module = loader.load_submission(SUBMISSION, framework)
        space = search_space.load(Path(SUBMISSION) / loader.SEARCH_SPACE_FILE)
        self.point = search_space.trial_point(space, 0, 0)
        self.hparams = Hyperparameters(self.point)
        self.splits = load_source(self.spec.data_source)
        self.batch_size = int(self.module.get_batch_size(workload_name=self.spec.base_name))
        stream = self.train_stream()
        self.batches = [next(stream) for _ in range(warmup + steps)]

    def train_stream(self):
        """A fresh copy of the trial's own stream (seed 0), so that every loop sees the same batches."""
        from harness.seeds import derive_seed
        from workloads.data import TrainStream

        return TrainStream(self.splits["train"], self.batch_size, derive_seed(0, "data"))

    def harness(self, folder: Path, eval_period_sec: float, isolation: str, **runner_options) -> dict:
        """Seconds per step and the ledger's accounts of one trial through the runner, the
        submission in its own process (as `run_trial` runs it) or in this one (with a device sync
        after every step, as before issue 28, or one step a call: `VARIANTS`' runner options)."""
        from harness.runner import TrialRunner
        from harness.submission_process import SubmissionProcess
        from harness.task import TrialTask

        unreachable = -1e30 if self.spec.lower_is_better else 1e30  # finite: snapshots are kept
        # the spec's own periods, or the given eval period and a tenth of it (both are spec fields)
        periods = ({} if eval_period_sec is None else {
            "eval_period_sec": eval_period_sec, "snapshot_period_sec": eval_period_sec / SNAPSHOTS_PER_EVAL})
        spec = dataclasses.replace(self.spec, validation_target=unreachable, test_target=unreachable,
                                   max_runtime_sec=1e9, max_steps=self.warmup + self.steps, **periods)
        task = TrialTask(str(Path(SUBMISSION).resolve()), self.spec.name, self.framework, "external",
                         0, 0, 0, self.point, str(folder), keep_checkpoint=False)
        separate = isolation == "separate-process"
        submission = SubmissionProcess(task, self.backend, spec, self.cores) if separate else self.module
        try:
            trial = TrialRunner(task, spec, submission, self.backend, splits=self.splits, calibrate=False,
                                eval_steps=(self.warmup, self.warmup + self.steps), **runner_options)
            meta = trial.run()
        finally:
            if separate:
                submission.close()
        if meta["status"] != "completed":
            raise RuntimeError(f"the harness trial ended {meta['status']}: {meta['error']}")
        rows = [r for r in trial.log.rows if not r["snapshot"]]
        first, last = rows[0], rows[-1]  # at --warmup and at the last step
        final = meta["final"]
        return {"seconds_per_step": (last["score"] - first["score"]) / (last["global_step"] - first["global_step"]),
                "steps_measured": last["global_step"] - first["global_step"],
                "global_step": final["global_step"], "total_duration": final["total_duration"],
                "accounts": {a: final[f"accumulated_{a}_time"] for a in ("submission", *OFF_CLOCK)}}

    def bare(self, batches_in_loop: bool = False) -> float:
        """Seconds per step of the plain loop, after `warmup` steps; `batches_in_loop`: each batch
        taken from the trial's stream and moved to the device in the timed loop, not before it."""
        loop = bare_pytorch if self.framework == "pytorch" else bare_jax
        return loop(self, self.batches, self.warmup, batches_in_loop)

    def stream(self, wl) -> Iterator[dict]:
        """The trial's batches, each assembled from the stream and moved when pulled."""
        stream = self.train_stream()
        return (wl.to_device(next(stream)) for _ in self.batches)


def bare_pytorch(setting: Setting, batches: list[dict], warmup: int, batches_in_loop: bool) -> float:
    import torch

    from submissions.common.pytorch import lr_scheduler
    from submissions.common.torch_optimizers import nadamw

    hp, wl = setting.hparams, setting.backend.make_workload(setting.spec)
    model, _ = wl.init_model_fn(setting.backend.make_rng(1))
    model.train()
    optimizer = nadamw(model.parameters(), lr=hp.learning_rate, betas=(1.0 - hp.one_minus_beta1, hp.beta2),
                       eps=EPSILON, weight_decay=hp.weight_decay)
    scheduler = lr_scheduler(optimizer, hp, wl.step_hint)
    smoothing, clip = hp.get("label_smoothing", 0.0), hp.get("grad_clip")
    on_device = setting.stream(wl) if batches_in_loop else [wl.to_device(b) for b in batches]
    start = None
    for i, batch in enumerate(on_device):
        if i == warmup:
            setting.backend.sync()
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits = model(wl.model_inputs(batch))
        loss = wl.loss_fn(batch["targets"], logits, batch.get("weights"), smoothing)
        (loss["summed"] / loss["n_valid_examples"]).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        scheduler.step()
    setting.backend.sync()
    return (time.perf_counter() - start) / (len(batches) - warmup)


def bare_jax(setting: Setting, batches: list[dict], warmup: int, batches_in_loop: bool) -> float:
    import jax
    import optax

    from harness.spec import ForwardPassMode
    from submissions.common.jax import lr_schedule

    hp, wl = setting.hparams, setting.backend.make_workload(setting.spec)
    tx = optax.nadamw(lr_schedule(hp, wl.step_hint), b1=1.0 - hp.one_minus_beta1, b2=hp.beta2,
                      eps=EPSILON, weight_decay=hp.weight_decay)
    if hp.get("grad_clip") is not None:
        tx = optax.chain(optax.clip_by_global_norm(hp.grad_clip), tx)
    smoothing = hp.get("label_smoothing", 0.0)
    params, model_state = wl.init_model_fn(setting.backend.make_rng(1))
    opt_state = jax.device_put(tx.init(params), wl.replicated)

    @jax.jit
    def step(params, model_state, opt_state, batch, rng):
        def loss_of(p):
            logits, new_state = wl.model_fn(p, batch, model_state, ForwardPassMode.TRAIN, rng, True)
            loss = wl.loss_fn(batch["targets"], logits, batch.get("weights"), smoothing)
            return loss["summed"] / loss["n_valid_examples"], new_state

        (_, new_state), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state

    on_device = setting.stream(wl) if batches_in_loop else [wl.to_device(b) for b in batches]
    rngs = [jax.random.PRNGKey(i) for i in range(len(batches))]
    state, start = (params, model_state, opt_state), None
    for i, batch in enumerate(on_device):
        if i == warmup:
            jax.block_until_ready(state)
            start = time.perf_counter()
        before, state = state, step(*state, batch, rngs[i])
        # At most two steps in flight, as in a trial (the runner reads the step before's finite
        # flag after queuing a step): with every step queued at once (45, more than the 32
        # computations XLA:CPU keeps in flight per device), its all-reduce across host devices
        # deadlocked and aborted this process ("Termination timeout for all reduce"; the smallest
        # reproduction: benchmarks/xla_cpu_allreduce_deadlock.py).
        jax.block_until_ready(before)
    jax.block_until_ready(state)
    return (time.perf_counter() - start) / (len(batches) - warmup)


def child(workload: str, framework: str, args) -> dict:
    """Every repeat of one workload and framework: the harness and the bare loop (and the compared
    runners, where asked) in turn, each first in one repeat."""
    setting = Setting(workload, framework, args.threads, args.steps, args.warmup)
    eval_period = args.eval_period or setting.spec.eval_period_sec
    repeats = []
    with tempfile.TemporaryDirectory() as tmp:
        kinds = ("harness", "bare", "bare_in_loop",
                 *(k for k, (flag, *_) in VARIANTS.items() if getattr(args, flag)))
        for i in range(args.repeats):
            result = {}
            order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
            for kind in order:
                if kind.startswith("bare"):
                    result[f"{kind}_seconds_per_step"] = setting.bare(batches_in_loop=kind == "bare_in_loop")
                else:
                    options = VARIANTS[kind][2] if kind in VARIANTS else {}
                    result[kind] = setting.harness(Path(tmp) / f"trial_{i}_{kind}", eval_period,
                                                   args.isolation, **options)
            repeats.append({"repeat": i, "order": f"{order[0].replace('_', ' ')} first", **result})
            print(f"# {workload} {framework} repeat {i}: harness "
                  f"{1000 * result['harness']['seconds_per_step']:.2f} ms/step, bare "
                  f"{1000 * result['bare_seconds_per_step']:.2f} ms/step, bare with batches in the loop "
                  f"{1000 * result['bare_in_loop_seconds_per_step']:.2f} ms/step"
                  + "".join(f", harness with {label} {1000 * result[kind]['seconds_per_step']:.2f} ms/step"
                            for kind, (_, label, _) in VARIANTS.items() if kind in result),
                  file=sys.stderr, flush=True)
    return {"workload": workload, "framework": framework, "isolation": args.isolation,
            "cores": len(setting.cores),
            "device": setting.backend.device_info(), "eval_period_sec": eval_period, "repeats": repeats}


# -- in the parent: one child per workload and framework, the summary, the JSON -----------------
def run_child(args, workload: str, framework: str) -> dict:
    command = [sys.executable, __file__, "--child", workload, framework, "--repeats", str(args.repeats),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--isolation", args.isolation]
    if args.eval_period:
        command += ["--eval-period", str(args.eval_period)]
    for flag, *_ in VARIANTS.values():
        if getattr(args, flag):
            command.append("--" + flag.replace("_", "-"))
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{workload} {framework} failed (its error is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    return (f"{scale * statistics.median(values):.{digits}f} "
            f"[{scale * min(values):.{digits}f}, {scale * max(values):.{digits}f}]")


def summary(result: dict) -> dict:
    """Medians over a workload-framework's repeats (what the table shows); `ratio_<variant>`: the
    harness/bare ratio of each compared runner (`VARIANTS`), empty where it was not measured."""
    repeats = result["repeats"]
    harness = [r["harness"]["seconds_per_step"] for r in repeats]
    bare = [r["bare_seconds_per_step"] for r in repeats]
    shares = {a: statistics.median(r["harness"]["accounts"][a] / r["harness"]["total_duration"]
                                   for r in repeats) for a in OFF_CLOCK}
    in_loop = [r["bare_in_loop_seconds_per_step"] for r in repeats if "bare_in_loop_seconds_per_step" in r]
    out = {"harness": harness, "bare": bare, "ratio": [h / b for h, b in zip(harness, bare)],
           "ratio_in_loop": [h / b for h, b in zip(harness, in_loop)],  # empty before stop 40
           "shares": shares}
    for kind in VARIANTS:
        times = [r[kind]["seconds_per_step"] for r in repeats if kind in r]
        out[ratio_key(kind)] = [t / b for t, b in zip(times, bare)]
    return out


def ratio_key(kind: str) -> str:
    return "ratio_" + kind.removeprefix("harness_")


def compared_variants(results: list[dict]) -> list[tuple[str, str]]:
    """(summary key, label) of each variant any result measured, in `VARIANTS`' order."""
    return [(ratio_key(kind), label) for kind, (_, label, _) in VARIANTS.items()
            if any(summary(r)[ratio_key(kind)] for r in results)]


def ratio_cell(values: list[float]) -> str:
    """A compared runner's ratio, "-" where that run did not measure it."""
    return spread(values, digits=3) if values else "-"


def print_table(results: list[dict]) -> None:
    """The summary as a Markdown table; with `--compare-sync` or `--compare-steps-per-call`, the
    harness/bare ratio of those runners next to today's."""
    compared = compared_variants(results)
    extra = "".join(f" | harness/bare, {label}" for _, label in compared)
    print(f"\n| workload | framework | harness ms/step | bare ms/step | harness/bare | "
          f"harness/bare, batches in the loop{extra} | {' | '.join(OFF_CLOCK)} |\n"
          f"|---|---|---|---|---|---|{'---|' * (len(OFF_CLOCK) + len(compared))}")
    for result in results:
        s = summary(result)
        shares = " | ".join(f"{100 * s['shares'][a]:.1f}%" for a in OFF_CLOCK)
        ratios = (spread(s["ratio"], digits=3) + f" | {ratio_cell(s['ratio_in_loop'])}"
                  + "".join(f" | {ratio_cell(s[key])}" for key, _ in compared))
        print(f"| {result['workload']} | {result['framework']} | {spread(s['harness'], 1000)} | "
              f"{spread(s['bare'], 1000)} | {ratios} | {shares} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timed ones")
    parser.add_argument("--threads", type=int, default=None, help="CPU cores (default: all)")
    parser.add_argument("--isolation", choices=("separate-process", "in-process"), default="separate-process",
                        help="where the trial's submission runs (default: its own process, as `algobench run`)")
    parser.add_argument("--label", default=None, help="what this run measures, e.g. 'before' (default: "
                                                      "the git commit)")
    parser.add_argument("--out", help="write every repeat as JSON here")
    parser.add_argument("--eval-period", type=float, default=None,
                        help="the trial's eval period in seconds, which sets its snapshot period "
                             "(a tenth of it); default: the workload's own")
    parser.add_argument("--compare-sync", action="store_true",
                        help="also measure the harness with a device sync after every step (the runner "
                             "before issue 28), side by side")
    parser.add_argument("--compare-steps-per-call", action="store_true",
                        help="also measure the harness with one step a submission-process call "
                             "(docs/performance.md#steps-per-call), side by side")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1:
        sys.exit("--steps and --repeats must be at least 1")
    if args.child:
        print(json.dumps(child(*args.child, args)))
        return
    if args.out and not Path(args.out).parent.is_dir():
        sys.exit(f"--out {args.out}: folder {Path(args.out).parent} does not exist; create it first")
    from harness import calibration, provenance

    record = {"host": calibration.host_id(), "cpu": provenance.cpu_info(),
              "git_commit": provenance.git_commit(), "label": args.label or provenance.git_commit(),
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
              "submission": SUBMISSION, "steps": args.steps, "warmup": args.warmup,
              "repeats": args.repeats, "threads": args.threads, "eval_period": args.eval_period,
              "evals_at_steps": [args.warmup, args.warmup + args.steps],
              "compare_sync": args.compare_sync,
              "compare_steps_per_call": args.compare_steps_per_call, "results": []}
    for workload in args.workloads:
        for framework in args.frameworks:
            record["results"].append(run_child(args, workload, framework))
            if args.out:  # after each, so that a run stopped early keeps what it measured
                Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print_table(record["results"])
    if args.out:
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
