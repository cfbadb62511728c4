"""Heavy-ball momentum with a warmup and linear decay built from optax schedules, written as an
AlgoPerf v0.5 PyTorch submission (`algorithmic_efficiency` imports, no `train_state`, no
`prepare_for_eval`), for algobench's compatibility tests."""

from typing import Callable, Dict, Iterator, List, Tuple

import optax
import torch
from absl import logging
from torch.optim.lr_scheduler import LambdaLR

from algorithmic_efficiency import spec
from algorithmic_efficiency.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP = pytorch_setup()[0]


def create_lr_schedule_fn(step_hint: int, hyperparameters) -> Callable[[int], float]:
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
  del model_state, rng
  optimizer = torch.optim.SGD(model_params.parameters(), lr=hyperparameters.learning_rate,
                              momentum=1.0 - hyperparameters.one_minus_beta1,
                              weight_decay=hyperparameters.weight_decay)
  lr_schedule_fn = create_lr_schedule_fn(workload.step_hint, hyperparameters)

  def _lr_lambda(step: int) -> float:
    return lr_schedule_fn(step).item() / hyperparameters.learning_rate

  return {'optimizer': optimizer, 'scheduler': LambdaLR(optimizer, lr_lambda=_lr_lambda)}


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
  del current_params_types, loss_type, eval_results
  current_model = current_param_container
  current_model.train()
  optimizer_state['optimizer'].zero_grad()
  logits_batch, new_model_state = workload.model_fn(
      params=current_model, augmented_and_preprocessed_input_batch=batch,
      model_state=model_state, mode=spec.ForwardPassMode.TRAIN, rng=rng,
      update_batch_norm=True)
  loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits_batch,
                               mask_batch=batch.get('weights'))
  loss = loss_dict['summed'] / loss_dict['n_valid_examples']
  loss.backward()
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  if global_step % 100 == 0:
    logging.info('%d) loss = %0.3f', global_step, loss.item())
  return optimizer_state, current_param_container, new_model_state


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
