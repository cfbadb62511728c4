"""NAdamW with warmup and cosine decay, written as an AlgoPerf v0.6 JAX submission: `jax.jit`
with the shardings of `algoperf.jax_sharding_utils`, label smoothing and dropout passed as traced
arguments, `train_state` in update_params, for algobench's compatibility tests."""

from typing import Any, Dict, Iterator, List, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from algoperf import jax_sharding_utils, spec


def warmup_cosine(step_hint: int, hyperparameters):
  warmup_steps = int(hyperparameters.warmup_factor * step_hint)
  warmup = optax.linear_schedule(0.0, hyperparameters.learning_rate, warmup_steps)
  cosine = optax.cosine_decay_schedule(hyperparameters.learning_rate,
                                       max(step_hint - warmup_steps, 1))
  return optax.join_schedules([warmup, cosine], boundaries=[warmup_steps])


def init_optimizer_state(workload: spec.Workload,
                         model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_params, model_state, rng
  opt_init_fn, opt_update_fn = optax.nadamw(
      learning_rate=warmup_cosine(workload.step_hint, hyperparameters),
      b1=1.0 - hyperparameters.one_minus_beta1, b2=hyperparameters.beta2, eps=1e-8,
      weight_decay=hyperparameters.weight_decay)
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes)
  return opt_init_fn(zeros), opt_update_fn


def train_step(workload, opt_update_fn, model_state, optimizer_state, current_param_container,
               batch, rng, label_smoothing, dropout_rate):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
        update_batch_norm=True, dropout_rate=dropout_rate)
    loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits,
                                 mask_batch=batch.get('weights'),
                                 label_smoothing=label_smoothing)
    return loss_dict['summed'], (loss_dict['n_valid_examples'], new_model_state)

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (summed_loss, (n_valid_examples, new_model_state)), grad = grad_fn(current_param_container)
  loss = summed_loss / n_valid_examples
  grad = jax.tree.map(lambda g: g / n_valid_examples, grad)
  updates, new_optimizer_state = opt_update_fn(grad, optimizer_state, current_param_container)
  updated_params = optax.apply_updates(current_param_container, updates)
  return new_optimizer_state, updated_params, new_model_state, loss


def update_params(workload: spec.Workload,
                  current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree,
                  model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters,
                  batch: Dict[str, spec.Tensor],
                  loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState,
                  eval_results: List[Tuple[int, float]],
                  global_step: int,
                  rng: spec.RandomState,
                  train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  optimizer_state, opt_update_fn = optimizer_state
  label_smoothing = (hyperparameters.label_smoothing
                     if hasattr(hyperparameters, 'label_smoothing') else 0.0)
  replicated = jax_sharding_utils.get_replicate_sharding()
  sharded = jax_sharding_utils.get_batch_dim_sharding()
  jitted_train_step = jax.jit(
      train_step, static_argnums=(0, 1),
      in_shardings=(replicated, replicated, replicated, sharded, replicated, replicated,
                    replicated),
      out_shardings=(replicated, replicated, replicated, replicated))
  new_optimizer_state, new_params, new_model_state, loss = jitted_train_step(
      workload, opt_update_fn, model_state, optimizer_state, current_param_container, batch, rng,
      label_smoothing, hyperparameters.dropout_rate)
  if global_step % 100 == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': loss.item()}, global_step)
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


def prepare_for_eval(workload: spec.Workload,
                     current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree,
                     model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters,
                     loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState,
                     eval_results: List[Tuple[int, float]],
                     global_step: int,
                     rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, hyperparameters, current_params_types, loss_type, eval_results, global_step, rng
  return optimizer_state, current_param_container, model_state


def get_batch_size(workload_name):
  if workload_name == 'mnist':
    return 16
  elif workload_name == 'imagenet_resnet':
    return 1024
  elif workload_name == 'ogbg':
    return 512
  raise ValueError(f'Unsupported workload name: {workload_name}.')


def data_selection(workload: spec.Workload,
                   input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState,
                   current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState,
                   hyperparameters: spec.Hyperparameters,
                   global_step: int,
                   rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters
  del global_step, rng
  return next(input_queue)
