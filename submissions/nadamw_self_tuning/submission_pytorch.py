"""Self-tuning NAdamW: one fixed configuration, linear warmup and cosine decay to 0 at the step hint.

The self-tuning ruleset gives no hyperparameters (and 1.5x the budget), so the package fixes
them: NAdamW (Dozat 2016; decoupled weight decay, Loshchilov & Hutter 2019) as in
`submissions/nadamw`, with the configuration below, the same in submission_jax.py. See the README
for where the values come from.
"""

from harness.spec import Hyperparameters
from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params as train_step  # noqa: F401
from submissions.common.torch_optimizers import nadamw

EPSILON = 1e-8
HPARAMS = Hyperparameters({
    "learning_rate": 0.006,
    "one_minus_beta1": 0.1,
    "beta2": 0.999,
    "weight_decay": 0.05,
    "warmup_factor": 0.05,
    "label_smoothing": 0.0,
})


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = HPARAMS
    optimizer = nadamw(model_params.parameters(), lr=hp.learning_rate,
                       betas=(1.0 - hp.one_minus_beta1, hp.beta2), eps=EPSILON,
                       weight_decay=hp.weight_decay)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    return train_step(workload, current_param_container, current_params_types, model_state, HPARAMS,
                      batch, loss_type, optimizer_state, eval_results, global_step, rng, train_state)
