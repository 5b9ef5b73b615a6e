"""The train section: optimizer, loss, precision, batches and the logging schedule."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.choices import (
    DECAYS, DTYPES, GRAD_FILTERS, LOSSES, LOSS_PRECISIONS, OPTIMIZERS, PRECISIONS, RETIRE_RULES, SAMPLINGS, _check,
    _choice,
)


@dataclass(frozen=True)
class TrainConfig:
    """The optimizer, loss, step counts and the logging and checkpoint schedule."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1.0
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1e-8
    # adam/adamw: hold Adam's moments 2^16 (mu) and 2^32 (nu) times larger, so that they keep the values under
    # float32's smallest normal (1.2e-38) that torch keeps and XLA's CPU flushes to zero (the same update otherwise)
    keep_subnormal_moments: bool = False
    momentum: float = 0.9  # sgd only
    decay: str = "l2"  # l2 (AdamW: decoupled; adam/sgd: wd * w added to the gradient) or l1 (wd * sign(w) added)
    warmup_steps: int = 0
    warmup_from_zero: bool = False  # warmup factor min(count / warmup_steps, 1): the first update has lr 0 (Nanda et al.)
    loss: str = "cross_entropy"  # or cross_entropy_class_mean, mse, stablemax (Prieto et al. 2025)
    loss_precision: str = "float32"  # float64 (delays softmax collapse) or exact (avoids it); see losses
    prob_clip: float = 0.0  # clip the correct class's probability to [c, 1 - c] before the log (Keras: 1e-7)
    dtype: str = "float32"  # float64: params, optimizer state and the whole step in float64 (jax_enable_x64)
    float32_params: str = ""  # with dtype float64: parameters kept float32, e.g. "W_E" (as Haiku's get_parameter)
    grad_filter: str = "none"  # Grokfast (Lee et al. 2024): grokfast_ema or grokfast_ma
    grokfast_alpha: float = 0.98  # EMA filter's momentum
    grokfast_lambda: float = 2.0  # amplification of the slow gradient (EMA default 2, paper's MA 5)
    grokfast_window: int = 100  # MA filter's window (steps)
    orthogonal_grad: bool = False  # remove the gradient's component along the weights (Prieto et al. 2025)
    steps: int = 10_000
    batch_size: int = 0  # 0 means full batch
    sampling: str = "uniform"  # minibatch rows drawn i.i.d., or "epochs": without replacement, reshuffled each epoch
    # sampling "epochs" in a peer's order: an .npz (or lab/references name) whose epoch_order [E, n_train] lists, for
    # each epoch, the training rows (positions in task.split_from's training set) in the order its minibatches read them
    batches_from: str = ""
    model_batch: int = 0  # models vmapped at once within a group; 0: all on GPU/TPU, cache-sized on CPU
    row_block: int = 0  # rows per block of a step's summed gradient; 0: cache-sized on one-thread CPU devices, else all
    matmul_precision: str = "float32"  # float32, tf32 or bf16 matmul passes (GPU/TPU; no effect on CPU)
    seed: int = 0
    log_every: int = 100
    checkpoints: int = 20  # log-spaced checkpoint steps (plus step 0 and the last step)
    resume_every: float = 300.0  # seconds between rolling resume checkpoints (0: none); not part of a run's identity
    retire_after: int = 0  # retire a model after this many logs in a row with its outcome decided (0: never)
    retire_rule: str = "generalized"  # test accuracy 1 and test loss <= retire_loss; "decided": or train loss stalled
    retire_loss: float = 1e-3

    def validate(self) -> None:
        """Raise SpecError for values no optimizer or schedule accepts."""
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _choice("train.loss", self.loss, LOSSES)
        _choice("train.matmul_precision", self.matmul_precision, PRECISIONS)
        _choice("train.loss_precision", self.loss_precision, LOSS_PRECISIONS)
        _choice("train.grad_filter", self.grad_filter, GRAD_FILTERS)
        _choice("train.decay", self.decay, DECAYS)
        _choice("train.dtype", self.dtype, DTYPES)
        _choice("train.sampling", self.sampling, SAMPLINGS)
        _check(not (self.sampling == "epochs" and not self.batch_size),
               "train.sampling = 'epochs' draws minibatches; set train.batch_size (0 is full batch)")
        _check(isinstance(self.batches_from, str),
               f"train.batches_from must be a reference name or a path (got {self.batches_from!r})")
        _check(not (self.batches_from and self.sampling != "epochs"),
               "train.batches_from gives each epoch's order of the training rows; set train.sampling = 'epochs' "
               "and train.batch_size")
        _check(not (self.warmup_from_zero and not self.warmup_steps),
               "train.warmup_from_zero needs train.warmup_steps >= 1 (the number of warmup updates)")
        _check(not (self.decay == "l1" and self.optimizer == "adamw"),
               "train.decay = 'l1' adds wd * sign(w) to the gradient; use train.optimizer = 'adam' (as the PAIR "
               "notebooks do) or 'sgd', since AdamW's own decay is decoupled L2")
        _check(not (self.float32_params and self.dtype != "float64"),
               "train.float32_params keeps some parameters float32 inside a float64 step; set train.dtype = 'float64'")
        _check(0.0 <= self.prob_clip < 0.5, f"train.prob_clip must be in [0, 0.5) (got {self.prob_clip})")
        _check(not (self.prob_clip and self.loss in ("mse", "stablemax")),
               f"train.prob_clip applies to the cross-entropy losses, not to train.loss = {self.loss!r}")
        _check(not (self.prob_clip and self.loss_precision == "exact"),
               "train.prob_clip with train.loss_precision = 'exact' would undo it; choose one")
        _check(0 <= self.grokfast_alpha < 1, f"train.grokfast_alpha must be in [0, 1) (got {self.grokfast_alpha})")
        _check(self.grokfast_lambda >= 0, f"train.grokfast_lambda must be >= 0 (got {self.grokfast_lambda})")
        _check(self.grokfast_window >= 1, f"train.grokfast_window must be at least 1 (got {self.grokfast_window})")
        _check(self.lr > 0, f"train.lr must be positive (got {self.lr})")
        for name in ("b1", "b2"):
            _check(0 <= getattr(self, name) < 1, f"train.{name} must be in [0, 1) (got {getattr(self, name)})")
        _check(self.eps > 0, f"train.eps must be positive (got {self.eps})")
        _check(not (self.keep_subnormal_moments and self.optimizer not in ("adam", "adamw")),
               f"train.keep_subnormal_moments scales Adam's moments; train.optimizer = {self.optimizer!r} has none")
        _check(self.momentum >= 0, f"train.momentum must be >= 0 (got {self.momentum})")
        _check(self.weight_decay >= 0, f"train.weight_decay must be >= 0 (got {self.weight_decay})")
        _check(self.steps >= 1, f"train.steps must be at least 1 (got {self.steps})")
        _check(0 <= self.seed < 2**31, f"train.seed must be in [0, 2**31), an int32 (got {self.seed})")
        _check(self.batch_size >= 0, f"train.batch_size must be >= 0, 0 for full batch (got {self.batch_size})")
        _check(self.model_batch >= 0, f"train.model_batch must be >= 0, 0 for automatic (got {self.model_batch})")
        _check(self.row_block >= 0, f"train.row_block must be >= 0, 0 for automatic (got {self.row_block})")
        _check(self.warmup_steps >= 0, f"train.warmup_steps must be >= 0 (got {self.warmup_steps})")
        _check(self.log_every >= 1, f"train.log_every must be at least 1 (got {self.log_every})")
        _check(
            self.steps % self.log_every == 0,
            f"train.steps = {self.steps} must be a multiple of train.log_every = {self.log_every}",
        )
        _check(self.checkpoints >= 0, f"train.checkpoints must be >= 0 (got {self.checkpoints})")
        _choice("train.retire_rule", self.retire_rule, RETIRE_RULES)
        _check(self.retire_after >= 0, f"train.retire_after must be >= 0 logs, 0 for never (got {self.retire_after})")
        _check(self.retire_loss > 0, f"train.retire_loss must be positive (got {self.retire_loss})")
        _check(self.resume_every >= 0, f"train.resume_every must be >= 0 seconds, 0 for none (got {self.resume_every})")
