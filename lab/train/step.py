"""One model's pure training step, its initial state, its data and its evaluation.

Everything here is written for a single model; `lab.train.loop` adds the model axis with
`jax.vmap` and runs chunks of steps with `jax.lax.scan`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lab import models, tasks
from lab.config import Spec
from lab.sweeps.hparams import HParams
from lab.train.batches import train_batch
from lab.train.keys import data_key, model_key
from lab.train.losses import accuracy, collapsed, per_example_loss, weighted_mean
from lab.train.optim import make_optimizer


class TrainState(NamedTuple):
    """Parameters, optimizer state (with its hyperparameters) and the step count of one model."""

    params: models.Params
    opt_state: object
    step: jax.Array


def init_state(spec: Spec, hp: HParams) -> TrainState:
    """Fresh parameters and optimizer state of one model."""
    init_key = jax.random.fold_in(model_key(hp.seed), 0)
    params = models.init(init_key, spec.model, spec.task, hp.init_scale)
    if spec.train.dtype == "float64":  # traced under jax.enable_x64 (see `precision_scope`)
        keep = set(spec.train.float32_params.split(",")) - {""}
        params = jax.tree_util.tree_map_with_path(
            lambda path, w: w.astype(jnp.float32 if str(path[-1].key) in keep else jnp.float64), params)
    optimizer = make_optimizer(spec.train, hp.lr, hp.weight_decay, hp.grokfast_alpha, hp.grokfast_lambda)
    opt_state = optimizer.init(params)
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32))


def precision_scope(spec: Spec):
    """The context in which a spec's programs are traced and run: float64 (jax_enable_x64) or the default."""
    return jax.enable_x64(spec.train.dtype == "float64")


def make_data(spec: Spec, hp: HParams, n_train_max: int) -> tasks.Data:
    """One model's dataset, a pure function of its data seed and train fraction."""
    as_tokens = models.as_tokens(spec.model)
    return tasks.make_data(spec.task, data_key(hp.data_seed), hp.train_frac, n_train_max, as_tokens)


def _loss(spec: Spec, params, x, y_B, w_B) -> jax.Array:
    return weighted_mean(answer_loss(spec, params, x, y_B)[0], w_B)


def answer_loss(spec: Spec, params, x, y_B: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(loss [B], accuracy [B], the answer's logits [B, C]) of one model on a batch.

    With task.sequence = "eos_a_op_b_eq_c" the loss is the mean over the answer and the <eos> after it, and
    an example is right when both are (Power et al.); otherwise they are the answer's own.
    """
    if spec.task.n_answers == 1:
        logits_BxC = models.apply(params, x, spec.model, spec.task)
        return loss_of(spec, logits_BxC, y_B), accuracy(logits_BxC, y_B), logits_BxC
    logits_BxAxC = models.apply_answers(params, x, spec.model, spec.task)
    y_BxA = jnp.stack([y_B, jnp.full_like(y_B, tasks.eos_token(spec.task))], axis=1)
    loss_AxB = jnp.stack([loss_of(spec, logits_BxAxC[:, a], y_BxA[:, a]) for a in range(y_BxA.shape[1])])
    acc_AxB = jnp.stack([accuracy(logits_BxAxC[:, a], y_BxA[:, a]) for a in range(y_BxA.shape[1])])
    return jnp.mean(loss_AxB, axis=0), jnp.min(acc_AxB, axis=0), logits_BxAxC[:, 0]


def loss_of(spec: Spec, logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """The spec's per-example loss (kind, precision and probability clip), [B]."""
    cfg = spec.train
    return per_example_loss(logits_BxC, y_B, cfg.loss, cfg.loss_precision, cfg.prob_clip)


def loss_and_grads(spec: Spec, params, x, y_B: jax.Array, w_B: jax.Array, row_block: int = 0):
    """(the weighted mean loss of a batch, its gradient); with 0 < row_block < B, summed over blocks of rows.

    In blocks, a lax.scan over row_block rows at a time (the last block padded with weight-0 rows) adds up each
    block's weighted loss sum and its gradient, then divides by the weights' sum: the same numbers but for
    float rounding order, with each block's activations small enough to stay in cache (see
    `lab.train.memory.auto_row_block`).
    """
    n_rows = y_B.shape[0]
    if not 0 < row_block < n_rows:
        return jax.value_and_grad(lambda p: _loss(spec, p, x, y_B, w_B))(params)
    n_blocks = -(-n_rows // row_block)

    def blocks(a):  # [B, ...] -> [n_blocks, row_block, ...], padded with zeros (padding rows weigh 0)
        a = jnp.pad(a, [(0, n_blocks * row_block - n_rows)] + [(0, 0)] * (a.ndim - 1))
        return a.reshape(n_blocks, row_block, *a.shape[1:])

    def block_sum(p, x_b, y_b, w_b):
        return jnp.sum(answer_loss(spec, p, x_b, y_b)[0] * w_b)

    def add_block(total, block):
        return jax.tree.map(jnp.add, total, jax.value_and_grad(block_sum)(params, *block)), None

    xs = (blocks(x), blocks(y_B), blocks(w_B))
    sum_dtype = jax.eval_shape(block_sum, params, *(a[0] for a in xs)).dtype
    zero = (jnp.zeros((), sum_dtype), jax.tree.map(jnp.zeros_like, params))
    (loss_sum, grad_sums), _ = jax.lax.scan(add_block, zero, xs)
    weight = jnp.maximum(jnp.sum(w_B), 1.0)
    return loss_sum / weight, jax.tree.map(lambda g: g / weight, grad_sums)


def train_step(spec: Spec, state: TrainState, data: tasks.Data, hp: HParams, row_block: int = 0
               ) -> tuple[TrainState, jax.Array]:
    """One optimizer update of one model on its full training set, a minibatch or fresh samples (`train_batch`);
    row_block: the gradient is summed over blocks of that many rows (`loss_and_grads`)."""
    x, y_B, w_B = train_batch(spec, data, hp.seed, hp.data_seed, state.step)
    loss, grads = loss_and_grads(spec, state.params, x, y_B, w_B, row_block)
    optimizer = make_optimizer(spec.train)  # its hyperparameters are read from opt_state
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = jax.tree.map(jnp.add, state.params, updates)
    return TrainState(params, opt_state, state.step + 1), loss


def weight_norm(params) -> jax.Array:
    """Euclidean norm of all parameters of one model."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(params)))


METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "weight_norm", "train_collapse")


def evaluate(spec: Spec, params, data: tasks.Data) -> dict[str, jax.Array]:
    """Train and test loss and accuracy (over real examples), the weight norm of one model,
    train_collapse (the fraction of training examples whose float32 loss is exactly 0), and
    test_loss_tasks / test_acc_tasks with one entry per `task.test_groups` (when it has any); for multitask
    parity test_loss_zipf, the subtasks' test losses weighted by their Zipf frequencies (the loss Michaud
    et al. fit, where the test set's own mean weights every subtask alike)."""
    out = {"weight_norm": weight_norm(params)}
    for split, x, y_B, w_B in (
        ("train", data.x_train, data.y_train, data.w_train),
        ("test", data.x_test, data.y_test, data.w_test),
    ):
        loss_B, acc_B, logits_BxC = answer_loss(spec, params, x, y_B)
        out[f"{split}_loss"] = weighted_mean(loss_B, w_B)
        out[f"{split}_acc"] = weighted_mean(acc_B, w_B)
        if split == "train":
            out["train_collapse"] = weighted_mean(collapsed(logits_BxC, y_B, spec.train.loss, spec.train.prob_clip), w_B)
    if spec.task.test_groups:  # per subtask or tuple size (data.t_test): test loss and accuracy, [T]
        logits_BxC = models.apply(params, data.x_test, spec.model, spec.task)
        w_BxT = data.w_test[:, None] * jax.nn.one_hot(data.t_test, len(spec.task.test_groups))
        count_T = jnp.maximum(jnp.sum(w_BxT, axis=0), 1.0)
        loss_B = loss_of(spec, logits_BxC, data.y_test)
        out["test_loss_tasks"] = loss_B @ w_BxT / count_T
        out["test_acc_tasks"] = accuracy(logits_BxC, data.y_test) @ w_BxT / count_T
        if spec.task.name == "multitask_parity":  # the loss a Zipf-drawn test example has on average
            p_T = jnp.asarray(tasks.zipf_probs(spec.task.n_tasks, spec.task.zipf_exponent), out["test_loss_tasks"].dtype)
            out["test_loss_zipf"] = out["test_loss_tasks"] @ p_T
    return out
