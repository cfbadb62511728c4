"""Heavy-ball momentum with a warmup and linear decay, written as an AlgoPerf v0.5 JAX
submission for `jax.pmap`: its state replicated over a leading device axis
(`flax.jax_utils.replicate`), its train step pmapped with gradients averaged by `lax.pmean`,
no `train_state`, no `prepare_for_eval`; for algobench's compatibility tests."""

import functools
from typing import Dict, Iterator, List, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import jax_utils
from jax import lax

from algorithmic_efficiency import spec


def create_lr_schedule_fn(step_hint: int, hyperparameters):
  warmup_steps = int(hyperparameters.warmup_factor * step_hint)
  warmup_fn = optax.linear_schedule(0.0, hyperparameters.learning_rate, warmup_steps)
  decay_fn = optax.polynomial_schedule(
      init_value=hyperparameters.learning_rate,
      end_value=hyperparameters.learning_rate * hyperparameters.end_factor, power=1,
      transition_steps=step_hint - warmup_steps)
  return optax.join_schedules([warmup_fn, decay_fn], boundaries=[warmup_steps])


def init_optimizer_state(workload: spec.Workload,
                         model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_params, model_state, rng
  opt_init_fn, opt_update_fn = optax.chain(
      optax.add_decayed_weights(hyperparameters.weight_decay),
      optax.sgd(learning_rate=create_lr_schedule_fn(workload.step_hint, hyperparameters),
                momentum=1.0 - hyperparameters.one_minus_beta1))
  params_zeros_like = jax.tree.map(lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes)
  optimizer_state = opt_init_fn(params_zeros_like)
  return jax_utils.replicate(optimizer_state), opt_update_fn


@functools.partial(jax.pmap, axis_name='batch', in_axes=(None, None, 0, 0, 0, 0, 0),
                   static_broadcasted_argnums=(0, 1))
def pmapped_train_step(workload, opt_update_fn, model_state, optimizer_state,
                       current_param_container, batch, rng):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True)
    loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits,
                                 mask_batch=batch.get('weights'))
    return loss_dict['summed'], (loss_dict['n_valid_examples'], new_model_state)

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (summed_loss, (n_valid_examples, new_model_state)), grad = grad_fn(current_param_container)
  summed_loss, n_valid_examples, grad = lax.psum((summed_loss, n_valid_examples, grad),
                                                 axis_name='batch')
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
                  rng: spec.RandomState) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, global_step, hyperparameters
  optimizer_state, opt_update_fn = optimizer_state
  per_device_rngs = jax.random.split(rng, jax.local_device_count())
  new_optimizer_state, new_params, new_model_state, _ = pmapped_train_step(
      workload, opt_update_fn, model_state, optimizer_state, current_param_container, batch,
      per_device_rngs)
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


def get_batch_size(workload_name):
  if workload_name == 'mnist':
    return 16
  elif workload_name == 'wmt':
    return 128
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
