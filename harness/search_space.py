"""Search spaces in AlgoPerf's JSON format, and the quasi-random trial points drawn from them.

Two shapes are accepted, as in AlgoPerf:
- an object mapping each hyperparameter to `{"feasible_points": [...]}` or to
  `{"min": a, "max": b, "scaling": "linear" | "log"}`: trial points are a scrambled Halton
  sequence (`scipy.stats.qmc.Halton`) seeded per study, so studies differ and trial `t` of a study
  can be regenerated on its own;
- a list of points (objects of values): trial `t` is point `t`, the same in every study.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SCALINGS = ("linear", "log")


class SearchSpaceError(ValueError):
    """A malformed search space; the message names the file, the key and the fix."""


def check_value(where: str, value: Any) -> None:
    """A hyperparameter value: a NaN or infinite number, or a number written as a string (which
    the submission would get as a str), is rejected; SearchSpaceError names `where`."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SearchSpaceError(f"{where}: {value} is not a finite number; give a finite value")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return
        if not math.isfinite(number):  # a word such as "nan" or "inf": maybe a category's name
            return
        raise SearchSpaceError(f"{where}: {value!r} is a number written as a string; write it "
                               "without quotes")


def _check_axis(path: str, name: str, axis: Any) -> None:
    where = f"{path}: hyperparameter {name!r}"
    if not isinstance(axis, dict):
        raise SearchSpaceError(f"{where}: expected an object with feasible_points or min/max/scaling")
    if "feasible_points" in axis:
        extra = set(axis) - {"feasible_points"}
        points = axis["feasible_points"]
        if extra:
            raise SearchSpaceError(f"{where}: unexpected keys {sorted(extra)} beside feasible_points")
        if not isinstance(points, list) or not points:
            raise SearchSpaceError(f"{where}: feasible_points must be a non-empty list")
        for value in points:
            check_value(where, value)
        return
    missing = {"min", "max", "scaling"} - set(axis)
    if missing:
        raise SearchSpaceError(f"{where}: missing key(s) {sorted(missing)}; give min, max and scaling")
    extra = set(axis) - {"min", "max", "scaling"}
    if extra:
        raise SearchSpaceError(f"{where}: unexpected key(s) {sorted(extra)}")
    lo, hi, scaling = axis["min"], axis["max"], axis["scaling"]
    if scaling not in SCALINGS:
        raise SearchSpaceError(f"{where}: scaling {scaling!r} is not one of {SCALINGS}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in (lo, hi)) or lo > hi:
        raise SearchSpaceError(f"{where}: min and max must be finite numbers with min <= max")
    if scaling == "log" and lo <= 0:
        raise SearchSpaceError(f"{where}: log scaling needs min > 0")


def validate(space: Any, path: str = "<search space>") -> dict | list:
    """Check a parsed search space; raise SearchSpaceError naming the bad key."""
    if isinstance(space, list):
        if not space:
            raise SearchSpaceError(f"{path}: the list of points is empty")
        for i, point in enumerate(space):
            if not isinstance(point, dict) or not point:
                raise SearchSpaceError(f"{path}: point {i} must be a non-empty object of values")
            if set(point) != set(space[0]):
                raise SearchSpaceError(f"{path}: point {i} has keys {sorted(point)}, point 0 has {sorted(space[0])}")
            for name, value in point.items():
                check_value(f"{path}: point {i}, hyperparameter {name!r}", value)
        return space
    if not isinstance(space, dict) or not space:
        raise SearchSpaceError(f"{path}: expected a non-empty JSON object or list of points")
    for name, axis in space.items():
        _check_axis(path, name, axis)
    return space


def load(path: Path | str) -> dict | list:
    path = Path(path)
    try:
        space = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: missing") from None
    except UnicodeDecodeError as err:
        raise SearchSpaceError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at "
                               f"offset {err.start}); save it as UTF-8") from None
    except json.JSONDecodeError as err:
        raise SearchSpaceError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    return validate(space, str(path))


def names(space: dict | list) -> list[str]:
    """The hyperparameters a search space defines."""
    return sorted(space[0] if isinstance(space, list) else space)


def load_point(path: Path | str, space: dict | list | None, space_path: Path | str) -> dict:
    """A hyperparameter point from a JSON file (`algobench run --hparams`): a JSON object of
    finite values whose names the submission's search space (`space`, None for self-tuning)
    defines. SearchSpaceError names the file and the fix."""
    path = Path(path)
    try:
        point = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: no such file; give --hparams a JSON file of "
                               "hyperparameter values") from None
    except UnicodeDecodeError as err:
        raise SearchSpaceError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at "
                               f"offset {err.start}); save it as UTF-8") from None
    except json.JSONDecodeError as err:
        raise SearchSpaceError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(point, dict):
        raise SearchSpaceError(f"{path}: --hparams takes one JSON object of hyperparameter values "
                               f"(name: value), not a {type(point).__name__}; for a point of a "
                               "list search space use --trial")
    if space is None and point:
        raise SearchSpaceError(f"{path}: this submission has no search space (self-tuning: it "
                               "takes no hyperparameters); drop --hparams or add a search space")
    unknown = sorted(set(point) - set(names(space or {})))
    if unknown:
        raise SearchSpaceError(f"{path}: unknown hyperparameter(s) {', '.join(unknown)}: "
                               f"{space_path} defines {', '.join(names(space))}; fix the name(s)")
    for name, value in point.items():
        check_value(f"{path}: hyperparameter {name!r}", value)
    return point


def num_points(space: dict | list) -> int | None:
    """How many distinct trials a list space holds (None: unbounded quasi-random)."""
    return len(space) if isinstance(space, list) else None


def trial_point(space: dict | list, study_seed: int, trial: int) -> dict[str, Any]:
    """The hyperparameters of trial `trial` (0-based) in the study seeded by `study_seed`."""
    if isinstance(space, list):
        if trial >= len(space):
            raise SearchSpaceError(f"trial {trial} asked of a list of {len(space)} points")
        return dict(space[trial])
    from scipy.stats import qmc  # here: importing scipy.stats costs a trial process 1.3 s

    names = sorted(space)
    sampler = qmc.Halton(d=len(names), scramble=True, seed=study_seed)
    sampler.fast_forward(trial)
    u = sampler.random(1)[0]
    point = {}
    for name, x in zip(names, u):
        axis = space[name]
        if "feasible_points" in axis:
            points = axis["feasible_points"]
            point[name] = points[min(int(x * len(points)), len(points) - 1)]
        elif axis["scaling"] == "log":
            lo, hi = math.log(axis["min"]), math.log(axis["max"])
            point[name] = float(math.exp(lo + x * (hi - lo)))
        else:
            point[name] = float(axis["min"] + x * (axis["max"] - axis["min"]))
    return point

