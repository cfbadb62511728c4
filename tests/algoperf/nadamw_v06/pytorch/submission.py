"""NAdamW with warmup and cosine decay, written as an AlgoPerf v0.6 PyTorch submission (AlgoPerf's
imports, `train_state` in update_params, `prepare_for_eval`, AlgoPerf's workload names in
get_batch_size), for algobench's compatibility tests. The NAdamW rule is optax.nadamw's."""

import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed.nn as dist_nn
from absl import logging
from torch.optim.lr_scheduler import LambdaLR

from algoperf import spec
from algoperf.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP, RANK, DEVICE, N_GPUS = pytorch_setup()


def nadamw(params, lr, betas, eps, weight_decay):
  """NAdam with decoupled weight decay as optax.nadamw computes it: torch's NAdam with its
  momentum decay off (the same optimizer as algobench's native NAdamW, so that the test compares
  the compatibility layer, not two orders of float32 operations)."""
  return torch.optim.NAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                           decoupled_weight_decay=True, momentum_decay=math.inf)


def warmup_cosine(step_hint: int, hyperparameters):
  warmup_steps = max(1, int(hyperparameters.warmup_factor * step_hint))
  decay_steps = max(1, step_hint - warmup_steps)

  def factor(step: int) -> float:
    if step < warmup_steps:
      return step / warmup_steps
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return 0.5 * (1.0 + math.cos(math.pi * progress))

  return factor


def init_optimizer_state(workload: spec.Workload,
                         model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState,
                         hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer = nadamw(model_params.parameters(), lr=hyperparameters.learning_rate,
                     betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2),
                     eps=1e-8, weight_decay=hyperparameters.weight_decay)
  scheduler = LambdaLR(optimizer, warmup_cosine(workload.step_hint, hyperparameters))
  return {'optimizer': optimizer, 'scheduler': scheduler}


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
  del current_params_types, loss_type, eval_results
  assert train_state is not None and train_state['global_step'] == global_step
  model = current_param_container
  model.train()
  optimizer_state['optimizer'].zero_grad()
  logits, new_model_state = workload.model_fn(
      params=model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
      mode=spec.ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True,
      dropout_rate=hyperparameters.dropout_rate)
  label_smoothing = (hyperparameters.label_smoothing
                     if hasattr(hyperparameters, 'label_smoothing') else 0.0)
  loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits,
                               mask_batch=batch.get('weights'), label_smoothing=label_smoothing)
  summed_loss, n_valid_examples = loss_dict['summed'], loss_dict['n_valid_examples']
  if USE_PYTORCH_DDP:
    summed_loss = dist_nn.all_reduce(summed_loss)
    n_valid_examples = dist_nn.all_reduce(n_valid_examples)
  loss = summed_loss / n_valid_examples
  loss.backward()
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  if global_step % 100 == 0:
    if workload.metrics_logger is not None:
      workload.metrics_logger.append_scalar_metrics({'loss': loss.item()}, global_step)
    logging.info('%d) loss = %0.3f', global_step, loss.item())
  return optimizer_state, current_param_container, new_model_state


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
