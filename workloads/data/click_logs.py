"""Generated click logs with the shape of Criteo's (13 dense count features, 26 categorical ones),
labelled by a hidden model: the data of the `dlrm` workloads. Fully determined by a seed; no download.

How one example is made (`sample`), with the hidden model's values drawn once per seed
(`hidden_model`):

* **Dense features.** 13 heavy-tailed counts: a Poisson count whose log-rate is normal (one latent
  "activity" factor shared by all 13, plus noise of its own), zero-inflated; the model sees
  ``log(1 + count)``.
* **Categorical features.** 26 features whose raw vocabularies take the sizes of the Criteo Kaggle
  data (3 to 10 million), capped at `MAX_VOCAB`. Each value is drawn Zipf-distributed over its
  vocabulary (exponent 1.05-1.3 per feature: a few values are frequent, most are rare) and then
  hashed into a table of `min(vocabulary, MAX_TABLE)` ids (a fixed random map; for the large
  vocabularies several raw values share an id, as hashed Criteo features do).
* **Label.** ``click ~ Bernoulli(sigmoid(logit + noise))`` with Gaussian noise, where the logit of the
  raw (unhashed) features is an intercept (set for a click rate of `CLICK_RATE`), a linear term in
  squashed dense features ``g_i = tanh((log(1+count_i) - centre_i) / width_i)``, an effect of its own
  for every raw categorical value (features differ in how informative they are; some are pure noise),
  and feature crosses: dense x dense (``g_i g_j``), categorical x categorical (dot products of
  hidden rank-4 vectors of the two values, what DLRM's interaction layer can represent) and dense x
  categorical (``g_i`` times a hidden slope of the value).

`bayes_probabilities` gives the hidden model's click probability of each example (the noise
integrated out): its log-loss is the floor no model of the raw features can beat.
"""

from __future__ import annotations

import numpy as np

from .cache import cached_arrays

__all__ = ["CRITEO_CARDINALITIES", "NUM_CATEGORICAL", "NUM_DENSE", "generate", "hidden_model",
           "load_click_logs", "table_sizes"]

NUM_DENSE = 13
NUM_CATEGORICAL = 26
# Criteo Kaggle (Display Advertising Challenge) vocabulary sizes of the 26 categorical features.
CRITEO_CARDINALITIES = (1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593,
                        3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105,
                        142572)
MAX_VOCAB = 1_000_000  # raw vocabulary cap (generation speed)
MAX_TABLE = 2_000  # embedding table cap: larger vocabularies are hashed into this many ids
CLICK_RATE = 0.25
NOISE_STD = 0.5  # Gaussian noise on the logit
CROSS_RANK = 4
CROSS_STD = 0.5  # std of one categorical x categorical cross term
# The hidden model's crosses: (dense, dense), (categorical, categorical), (dense, categorical).
DENSE_CROSSES = ((0, 1), (2, 5), (3, 9))
CATEGORICAL_CROSSES = ((0, 1), (4, 13), (6, 10), (2, 23))
DENSE_CATEGORICAL_CROSSES = ((0, 5), (4, 12), (7, 0))
DATA_SEED = 0
CHUNK = 250_000  # examples drawn at a time (part of the stream's definition: changing it changes data)
FORMAT = 1  # bump when the generator changes, so old cache entries are not reused


def table_sizes() -> tuple[int, ...]:
    """The model's embedding table size of each categorical feature (ids lie in [0, size))."""
    return tuple(min(c, MAX_TABLE) for c in CRITEO_CARDINALITIES)


def vocabulary_sizes() -> tuple[int, ...]:
    """The raw vocabulary size of each categorical feature, before hashing."""
    return tuple(min(c, MAX_VOCAB) for c in CRITEO_CARDINALITIES)


def hidden_model(seed: int) -> dict:
    """The generator's world for `seed`: feature distributions, hashing maps and label model.

    Keys: dense `log_rate`, `log_rate_std`, `activity_weight`, `zero_prob`, `centre`, `width`,
    `linear` (13 each); categorical `zipf_exponent` (26), `buckets`, `effects` (one array per
    feature, indexed by raw value), `cross_vectors`
    {feature: (vocab, rank)}, `slopes` {feature: (vocab,)}; `dense_cross_weights` (one per dense
    cross); `intercept` (set later by `_calibrate`)."""
    rng = np.random.default_rng([seed, 0])
    world: dict = {
        "log_rate": rng.uniform(np.log(0.5), np.log(300.0), NUM_DENSE),
        "log_rate_std": rng.uniform(0.5, 1.5, NUM_DENSE),
        "activity_weight": rng.uniform(0.0, 0.7, NUM_DENSE),
        "zero_prob": rng.uniform(0.0, 0.5, NUM_DENSE),
        "linear": rng.normal(0.0, 0.4, NUM_DENSE),
        "dense_cross_weights": rng.choice([-0.5, 0.5], len(DENSE_CROSSES)),
    }
    world["centre"] = world["log_rate"]
    world["width"] = world["log_rate_std"] + 0.5
    exponents = rng.uniform(1.05, 1.3, NUM_CATEGORICAL)
    informativeness = 0.7 * rng.uniform(0.0, 1.0, NUM_CATEGORICAL) ** 1.5
    world["zipf_exponent"] = exponents
    world["buckets"], world["effects"] = [], []
    for f, (vocab, table) in enumerate(zip(vocabulary_sizes(), table_sizes())):
        world["buckets"].append(rng.permutation(vocab) if vocab <= table
                                else rng.integers(0, table, vocab))
        world["effects"].append(rng.normal(0.0, informativeness[f], vocab))
    crossed = sorted({f for pair in CATEGORICAL_CROSSES for f in pair})
    entry_std = np.sqrt(CROSS_STD / np.sqrt(CROSS_RANK))  # a dot product's std is CROSS_STD
    world["cross_vectors"] = {f: rng.normal(0.0, entry_std, (vocabulary_sizes()[f], CROSS_RANK))
                              for f in crossed}
    world["slopes"] = {f: rng.normal(0.0, 0.4, vocabulary_sizes()[f])
                       for f in sorted({f for _, f in DENSE_CATEGORICAL_CROSSES})}
    world["intercept"] = 0.0
    world["intercept"] = _calibrate(world, np.random.default_rng([seed, 1]))
    return world


def sample(world: dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`n` examples: `inputs` (n, 39) float32 (13 log counts, then 26 hashed ids as floats),
    `targets` (n,) float32 clicks, `logits` (n,) float64 the hidden model's logit without noise."""
    activity = rng.standard_normal((n, 1))
    a = world["activity_weight"]
    log_rate = world["log_rate"] + world["log_rate_std"] * (
        a * activity + np.sqrt(1.0 - a**2) * rng.standard_normal((n, NUM_DENSE)))
    counts = rng.poisson(np.exp(log_rate)) * (rng.random((n, NUM_DENSE)) >= world["zero_prob"])
    dense = np.log1p(counts)
    raw = np.stack([_zipf(rng, n, vocab, s) for vocab, s in
                    zip(vocabulary_sizes(), world["zipf_exponent"])], axis=1)
    ids = np.stack([world["buckets"][f][raw[:, f]] for f in range(NUM_CATEGORICAL)], axis=1)
    logits = world["intercept"] + _logit(world, dense, raw)
    clicks = rng.random(n) < _sigmoid(logits + NOISE_STD * rng.standard_normal(n))
    inputs = np.concatenate([dense, ids], axis=1).astype(np.float32)
    return {"inputs": inputs, "targets": clicks.astype(np.float32), "logits": logits}


def bayes_probabilities(logits: np.ndarray, nodes: int = 32) -> np.ndarray:
    """The click probability E[sigmoid(logit + noise)] of each noise-free hidden logit
    (Gauss-Hermite quadrature over the Gaussian noise)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return _sigmoid(logits[:, None] + NOISE_STD * x[None, :]) @ (w / w.sum())


def generate(num_train: int, num_validation: int, num_test: int, seed: int) -> dict[str, np.ndarray]:
    """All splits as flat arrays `<split>.inputs`, `<split>.targets` and `<split>.logits` (the
    hidden logits, for the Bayes floor): consecutive draws of one iid stream, `CHUNK` examples at
    a time (to bound memory)."""
    world = hidden_model(seed)
    sizes = {"train": num_train, "validation": num_validation, "test": num_test}
    rng = np.random.default_rng([seed, 2])
    out = {}
    for split, n in sizes.items():
        chunks = [sample(world, min(CHUNK, n - start), rng) for start in range(0, n, CHUNK)]
        for key in chunks[0]:
            out[f"{split}.{key}"] = np.concatenate([c[key] for c in chunks])
    return out


def load_click_logs(num_train: int = 3_000_000, num_validation: int = 50_000, num_test: int = 50_000,
                    seed: int = DATA_SEED, with_logits: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """The click logs as ``{'train'|'validation'|'test': {'inputs', 'targets'}}``, cached on disk.

    ``inputs`` float32 (N, 39): 13 dense features ``log(1 + count)``, then the 26 categorical ids
    (integers in ``[0, table_sizes()[f])``, stored as floats, exact below 2**24); ``targets``
    float32 (N,) 0/1 clicks. With `with_logits`, each split also holds ``logits``: the hidden
    model's noise-free logit (for `bayes_probabilities`; never for training)."""
    params = {"num_train": num_train, "num_validation": num_validation, "num_test": num_test,
              "seed": seed, "format": FORMAT, "max_vocab": MAX_VOCAB, "max_table": MAX_TABLE,
              "click_rate": CLICK_RATE, "noise_std": NOISE_STD, "chunk": CHUNK}
    flat = cached_arrays("click_logs", params,
                         lambda: generate(num_train, num_validation, num_test, seed))
    keys = ("inputs", "targets", "logits") if with_logits else ("inputs", "targets")
    return {split: {k: flat[f"{split}.{k}"] for k in keys} for split in ("train", "validation", "test")}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _zipf(rng: np.random.Generator, n: int, vocab: int, exponent: float) -> np.ndarray:
    """`n` values in [0, vocab), P(k) proportional to the integral of x**-exponent over [k+1, k+2]
    (a discretized power law, close to Zipf's law; by inverting the continuous CDF, which is fast)."""
    tail = 1.0 - (vocab + 1.0) ** (1.0 - exponent)
    x = (1.0 - rng.random(n) * tail) ** (1.0 / (1.0 - exponent))
    return np.minimum(x.astype(np.int64) - 1, vocab - 1)


def _logit(world: dict, dense: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The hidden logit without intercept and noise, from log counts and raw categorical values."""
    g = np.tanh((dense - world["centre"]) / world["width"])
    z = g @ world["linear"]
    for (i, j), c in zip(DENSE_CROSSES, world["dense_cross_weights"]):
        z += c * g[:, i] * g[:, j]
    for f in range(NUM_CATEGORICAL):
        z += world["effects"][f][raw[:, f]]
    for f, h in CATEGORICAL_CROSSES:
        z += np.einsum("nr,nr->n", world["cross_vectors"][f][raw[:, f]],
                       world["cross_vectors"][h][raw[:, h]])
    for i, f in DENSE_CATEGORICAL_CROSSES:
        z += g[:, i] * world["slopes"][f][raw[:, f]]
    return z


def _calibrate(world: dict, rng: np.random.Generator, n: int = 100_000) -> float:
    """The intercept that gives a click rate of `CLICK_RATE` on a calibration sample (Newton's
    method on the mean click probability, which increases with the intercept)."""
    logits = sample(world, n, rng)["logits"]
    x, w = np.polynomial.hermite_e.hermegauss(32)
    w = w / w.sum()
    intercept = 0.0
    for _ in range(20):
        p = _sigmoid(logits[:, None] + intercept + NOISE_STD * x[None, :])
        step = ((p @ w).mean() - CLICK_RATE) / ((p * (1.0 - p)) @ w).mean()
        intercept -= step
        if abs(step) < 1e-10:
            break
    return float(intercept)
