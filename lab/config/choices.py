"""The allowed values of the spec's choice fields, `SpecError`, and the checks every section uses."""

from __future__ import annotations

from lab.errors import LabError

MODULAR_OPS = ("x+y", "x-y", "x*y", "x/y", "x^2+y^2", "x^2+xy+y^2", "x^3+xy")
INTEGER_OPS = ("x+y", "x-y", "x*y")  # ordinary arithmetic: the result is its own class
TASKS = ("modular", "integer", "parity", "multitask_parity", "skill_composition")
COMPOSE_RULES = ("count", "xor")
TABLE_TASKS = ("modular", "integer")  # every pair of operands in [0, p), split into train and test
MODEL_KINDS = ("mlp", "transformer")
EMBEDDINGS = ("learned", "onehot", "circle", "circle_unit_columns")
ACTIVATIONS = ("relu", "gelu", "gelu_erf", "silu", "tanh", "quadratic")  # gelu: tanh approximation; gelu_erf: exact (torch)
COMBINES = ("concat", "sum")
OPTIMIZERS = ("adamw", "adam", "sgd")
DECAYS = ("l2", "l1")  # the weight decay's penalty: see TrainConfig.decay
DTYPES = ("float32", "float64")  # parameters, optimizer state and the whole step
INIT_PRESETS = ("lab", "haiku", "torch")  # see lab.models.initializers
BIT_CODES = ("pm1", "01")  # parity inputs: bit 0 -> +1 and bit 1 -> -1, or the bits themselves
PRECISIONS = ("float32", "tf32", "bf16")  # matmul precision: full, TensorFloat-32, bfloat16 passes
LOSSES = ("cross_entropy", "cross_entropy_class_mean", "mse", "stablemax")
LOSS_PRECISIONS = ("float32", "float64", "exact")  # how -log p(y) is computed: see lab.train.losses
GRAD_FILTERS = ("none", "grokfast_ema", "grokfast_ma")
RETIRE_RULES = ("generalized", "decided")  # see lab.launch.retire
SAMPLINGS = ("uniform", "epochs")  # minibatches: i.i.d. rows, or each epoch a fresh permutation (torch's DataLoader)
SEQUENCES = ("a_b_eq", "a_op_b_eq", "eos_a_op_b_eq_c")  # a transformer's tokens per example; see TaskConfig.sequence
BLOCKS = ("pre_ln", "ln_residual", "post_ln")  # where a transformer block's LayerNorms sit; see ModelConfig.block
POSITIONS = ("learned", "sinusoidal")
READOUTS = ("classes", "vocab")
# lab.references: the PAIR explorable's own data, and the papers' published numbers
REFERENCES = ("pair_modadd", "pair_circle", "pair_parity", "grokfast", "stablemax", "nanda", "michaud")

# Swept numbers that do not change shapes: they become arrays on the model axis, one field of
# `lab.sweeps.HParams` each (its name -> the dotted spec field it holds).
HPARAM_FIELDS = {
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "seed": "train.seed",
    "init_scale": "model.init_scale",
    "data_seed": "task.data_seed",
    "train_frac": "task.train_frac",
    "grokfast_alpha": "train.grokfast_alpha",
    "grokfast_lambda": "train.grokfast_lambda",
}
PER_MODEL_FIELDS = tuple(HPARAM_FIELDS.values())


class SpecError(LabError, ValueError):
    """A spec, override or input that the lab refuses; its message is one line for the user."""


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(msg)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, f"{name} = {value!r} is not allowed; choose one of {', '.join(allowed)}")
