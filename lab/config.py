"""Static configuration: frozen dataclasses for the task, model, training and sweep sections.

A spec is validated into these; every bad value raises `SpecError` with a one-line message
that names the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from lab.errors import LabError
from lab.initializer_text import parse_initializer

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
SAMPLINGS = ("uniform", "epochs")  # minibatches: i.i.d. rows, or each epoch a fresh permutation (torch's DataLoader)
SEQUENCES = ("a_b_eq", "a_op_b_eq", "eos_a_op_b_eq_c")  # a transformer's tokens per example; see TaskConfig.sequence
BLOCKS = ("pre_ln", "ln_residual", "post_ln")  # where a transformer block's LayerNorms sit; see ModelConfig.block
POSITIONS = ("learned", "sinusoidal")
READOUTS = ("classes", "vocab")
# lab.references: the PAIR explorable's own data, and the papers' published numbers
REFERENCES = ("pair_modadd", "pair_circle", "pair_parity", "grokfast", "stablemax", "nanda", "michaud")

# Swept numbers that do not change shapes: they become arrays on the model axis.
PER_MODEL_FIELDS = (
    "train.lr",
    "train.weight_decay",
    "train.seed",
    "model.init_scale",
    "task.data_seed",
    "task.train_frac",
    "train.grokfast_alpha",
    "train.grokfast_lambda",
)


class SpecError(LabError, ValueError):
    """A spec, override or input that the lab refuses; its message is one line for the user."""


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(msg)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, f"{name} = {value!r} is not allowed; choose one of {', '.join(allowed)}")


@dataclass(frozen=True)
class TaskConfig:
    """The data: modular arithmetic over Z_p, integer arithmetic, sparse parity, or multitask sparse parity."""

    name: str = "modular"
    # modular arithmetic (and integer arithmetic: operands in [0, p), the result not reduced)
    op: str = "x+y"
    p: int = 97
    train_frac: float = 0.3
    symmetric: bool = False  # only the pairs a <= b (the PAIR explorable's convention)
    nonzero_y: bool = False  # only the pairs with y != 0 (Grokfast's x*y mod 97: y in 1..p-1; x/y always)
    # a transformer's tokens (numbers 0..p-1, "=" p, op p+1, <eos> p+2): [a, b, =] (Nanda et al.),
    # [a, op, b, =] (Grokfast), or [<eos>, a, op, b, =, c] whose loss also asks for <eos> after c (Power et al.)
    sequence: str = "a_b_eq"
    vocab: int = 0  # the token vocabulary; 0: the tokens the sequence uses (Power et al.'s vocabulary has 239)
    data_seed: int = 0
    # sparse parity and multitask sparse parity
    n_bits: int = 30
    k: int = 3
    n_train: int = 1000
    n_test: int = 5000
    n_tasks: int = 10
    zipf_exponent: float = 1.4
    fresh_samples: bool = False  # parity tasks: every step trains on a fresh batch (infinite data, Michaud et al.)
    bits: str = "pm1"  # parity tasks: input coding, "pm1" (+1/-1) or "01" (the PAIR explorable's 1s and 0s)
    compose_k: int = 2  # skill_composition: skills each training example needs at once
    compose_rule: str = "count"  # skill_composition label: "count" of skills answering 1, or their "xor"
    compose_singles: bool = True  # skill_composition: also train on each skill alone
    compose_mix: bool = False  # skill_composition: train on tuples of every size 2..compose_k, not only compose_k
    compose_test: int = 0  # skill_composition: test tuples of 1..compose_test skills (0: compose_k)

    def validate(self) -> None:
        """Raise SpecError for parameters that describe no possible dataset."""
        _choice("task.name", self.name, TASKS)
        _check(0.0 < self.train_frac <= 1.0, f"task.train_frac must be in (0, 1] (got {self.train_frac})")
        if self.name in TABLE_TASKS:
            _choice("task.op", self.op, MODULAR_OPS if self.name == "modular" else INTEGER_OPS)
            _choice("task.sequence", self.sequence, SEQUENCES)
            _check(self.vocab == 0 or self.vocab >= self.tokens_used(),
                   f"task.vocab = {self.vocab} is smaller than the {self.tokens_used()} tokens task.sequence = "
                   f"{self.sequence!r} uses; set 0 or at least {self.tokens_used()}")
            _check(self.p >= 2, f"task.p must be at least 2 (got {self.p})")
            _check(
                self.op != "x/y" or _is_prime(self.p),
                f"task.p must be prime for task.op = 'x/y' (got {self.p}, which has no inverses for all y)",
            )
            n_all = self.n_examples()
            _check(
                round(self.train_frac * n_all) >= 1,
                f"task.train_frac = {self.train_frac} leaves no training example out of {n_all}",
            )
        else:
            _check(self.n_bits >= 1, f"task.n_bits must be at least 1 (got {self.n_bits})")
            _check(1 <= self.k <= self.n_bits, f"task.k must be in [1, task.n_bits = {self.n_bits}] (got {self.k})")
            _check(self.n_train >= 1, f"task.n_train must be at least 1 (got {self.n_train})")
            _check(self.n_test >= 1, f"task.n_test must be at least 1 (got {self.n_test})")
            _choice("task.bits", self.bits, BIT_CODES)
            _check(not (self.fresh_samples and self.name == "skill_composition"),
                   "task.fresh_samples is implemented for parity and multitask_parity")
            if self.name == "multitask_parity":
                _check(self.n_tasks >= 1, f"task.n_tasks must be at least 1 (got {self.n_tasks})")
                _check(self.zipf_exponent >= 0, f"task.zipf_exponent must be >= 0 (got {self.zipf_exponent})")
            elif self.name == "skill_composition":
                _check(1 <= self.compose_k <= self.n_tasks,
                       f"task.compose_k must be in [1, task.n_tasks = {self.n_tasks}] (got {self.compose_k})")
                _choice("task.compose_rule", self.compose_rule, COMPOSE_RULES)
                _check(self.compose_test == 0 or self.compose_k <= self.compose_test <= self.n_tasks,
                       f"task.compose_test must be 0 (= compose_k) or in [task.compose_k = {self.compose_k}, "
                       f"task.n_tasks = {self.n_tasks}] (got {self.compose_test})")
                n_tuples = math.comb(self.n_tasks, self.compose_k)
                _check(n_tuples >= 2, f"task.n_tasks = {self.n_tasks} and task.compose_k = {self.compose_k} give "
                                      f"{n_tuples} skill tuple(s); at least 2 are needed to hold one out")
            else:
                n_all = 2**self.n_bits
                _check(
                    self.n_train + self.n_test <= n_all,
                    f"task.n_train + task.n_test = {self.n_train + self.n_test} is more examples than the "
                    f"{n_all} distinct inputs of {self.n_bits} bits",
                )

    def n_examples(self) -> int:
        """Number of distinct examples of a modular task (all pairs, or the pairs a <= b; y != 0 for x/y)."""
        n_all = self.p * (self.p + 1) // 2 if self.symmetric else self.p * self.p
        if self.op == "x/y" or self.nonzero_y:
            n_all -= 1 if self.symmetric else self.p
        return n_all

    def tokens_used(self) -> int:
        """The tokens task.sequence needs: p numbers, "=", then the op and <eos> where it has them."""
        return self.p + {"a_b_eq": 1, "a_op_b_eq": 2, "eos_a_op_b_eq_c": 3}[self.sequence]

    @property
    def n_vocab(self) -> int:
        """A transformer's vocabulary: task.vocab, or the tokens the sequence uses."""
        return self.vocab or self.tokens_used()

    @property
    def n_ctx(self) -> int:
        """A transformer's sequence length."""
        return {"a_b_eq": 3, "a_op_b_eq": 4, "eos_a_op_b_eq_c": 6}[self.sequence]

    @property
    def n_answers(self) -> int:
        """Positions whose predictions the loss reads: the answer, and for eos_a_op_b_eq_c also <eos> after it."""
        return 2 if self.sequence == "eos_a_op_b_eq_c" else 1

    @property
    def is_table(self) -> bool:
        """Whether the task is a table of operand pairs (modular or integer arithmetic)."""
        return self.name in TABLE_TASKS

    @property
    def n_classes(self) -> int:
        """Classes of the label: p residues, every possible integer result, or 2 for parity."""
        if self.name == "integer":
            low, high = self.result_range()
            return high - low + 1
        if self.name == "skill_composition" and self.compose_rule == "count":
            return self.test_sizes + 1
        return self.p if self.name == "modular" else 2

    @property
    def test_sizes(self) -> int:
        """Skill composition: the largest tuple size of the test set (tuples of 1..test_sizes skills)."""
        return self.compose_test or self.compose_k

    @property
    def test_groups(self) -> tuple[str, ...]:
        """The test subsets with their own loss and accuracy columns (`test_acc_<group>`): each subtask of
        multitask parity (task_0, ...), each tuple size of skill composition (k1, k2, ...); else none."""
        if self.name == "multitask_parity":
            return tuple(f"task_{t}" for t in range(self.n_tasks))
        if self.name == "skill_composition":
            return tuple(f"k{s}" for s in range(1, self.test_sizes + 1))
        return ()

    def result_range(self) -> tuple[int, int]:
        """The smallest and largest result of an integer task (class c is the result low + c)."""
        top = self.p - 1
        return {"x+y": (0, 2 * top), "x-y": (-top, top), "x*y": (0, top * top)}[self.op]


@dataclass(frozen=True)
class ModelConfig:
    """The network: an MLP or a decoder-only transformer (Nanda et al. 2023 shapes by default)."""

    kind: str = "transformer"
    init: str = "lab"  # initializer preset: lab, haiku or torch (see lab.models.initializers)
    init_overrides: tuple[tuple[str, str], ...] = ()  # per parameter name: ((W_E, "variance_scaling(2)"), ...)
    init_scale: float = 1.0
    activation: str = "relu"
    # MLP
    embedding: str = "learned"  # how each operand enters an MLP: learned, onehot or circle (cos, sin)
    combine: str = "concat"  # MLP: concat the operand embeddings, or sum one shared projection (PAIR)
    d_embed: int = 128
    width: int = 512
    depth: int = 1  # hidden layers of the MLP
    bias: bool = True
    tie_embed: bool = False  # MLP: unembed with the transpose of the embedding (PAIR), learned or fixed
    bias_input: bool = False  # MLP on vectors: a constant-1 input column, so the bias is a decayed weight (PAIR)
    single_logit: bool = False  # two-class tasks: one output column, class 1 where the logit is > 0 (PAIR parity)
    # transformer
    n_layers: int = 1
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    layer_norm: bool = False
    # with layer_norm: "pre_ln" x + f(LN(x)), final LN; "ln_residual" u = LN(x), u + attn(u), then x + mlp(LN(x)),
    # final LN (Grokfast's block); "post_ln" LN(x + f(x)), no final LN (Power et al.)
    block: str = "pre_ln"
    ln_eps: float = 1e-6  # LayerNorm's epsilon (Flax 1e-6; PyTorch 1e-5)
    attn_bias: bool = False  # biases on the query, key, value and output projections (torch's MultiheadAttention)
    positions: str = "learned"  # learned W_pos, or the fixed interleaved sin/cos table (Power et al.)
    readout: str = "classes"  # transformer logits over the task's classes, or over the whole token vocabulary

    def validate(self) -> None:
        """Raise SpecError for impossible shapes."""
        _choice("model.kind", self.kind, MODEL_KINDS)
        _choice("model.activation", self.activation, ACTIVATIONS)
        _choice("model.embedding", self.embedding, EMBEDDINGS)
        _choice("model.combine", self.combine, COMBINES)
        _choice("model.init", self.init, INIT_PRESETS)
        _choice("model.block", self.block, BLOCKS)
        _choice("model.positions", self.positions, POSITIONS)
        _choice("model.readout", self.readout, READOUTS)
        _check(self.block == "pre_ln" or self.layer_norm,
               f"model.block = {self.block!r} places LayerNorms; set model.layer_norm = true")
        _check(self.ln_eps > 0, f"model.ln_eps must be positive (got {self.ln_eps})")
        for name, text in self.init_overrides:
            _check(isinstance(name, str) and isinstance(text, str),
                   f"model.init_overrides must map parameter names to initializer strings (got {name!r} = {text!r})")
            try:
                parse_initializer(text)
            except ValueError as e:
                raise SpecError(f"model.init_overrides.{name}: {e}") from None
        _check(self.init_scale > 0, f"model.init_scale must be positive (got {self.init_scale})")
        for name in ("d_embed", "width", "depth", "n_layers", "d_model", "n_heads", "d_head", "d_mlp"):
            _check(getattr(self, name) >= 1, f"model.{name} must be at least 1 (got {getattr(self, name)})")
        _check(not (self.tie_embed and self.embedding == "onehot"),
               "model.tie_embed with model.embedding = 'onehot' is the identity readout; use learned or a circle")


@dataclass(frozen=True)
class TrainConfig:
    """The optimizer, loss, step counts and the logging and checkpoint schedule."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1.0
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1e-8
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
    model_batch: int = 0  # models vmapped at once within a group; 0: all on GPU/TPU, cache-sized on CPU
    matmul_precision: str = "float32"  # float32, tf32 or bf16 matmul passes (GPU/TPU; no effect on CPU)
    seed: int = 0
    log_every: int = 100
    checkpoints: int = 20  # log-spaced checkpoint steps (plus step 0 and the last step)

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
        _check(self.weight_decay >= 0, f"train.weight_decay must be >= 0 (got {self.weight_decay})")
        _check(self.steps >= 1, f"train.steps must be at least 1 (got {self.steps})")
        _check(self.batch_size >= 0, f"train.batch_size must be >= 0, 0 for full batch (got {self.batch_size})")
        _check(self.model_batch >= 0, f"train.model_batch must be >= 0, 0 for automatic (got {self.model_batch})")
        _check(self.warmup_steps >= 0, f"train.warmup_steps must be >= 0 (got {self.warmup_steps})")
        _check(self.log_every >= 1, f"train.log_every must be at least 1 (got {self.log_every})")
        _check(
            self.steps % self.log_every == 0,
            f"train.steps = {self.steps} must be a multiple of train.log_every = {self.log_every}",
        )
        _check(self.checkpoints >= 0, f"train.checkpoints must be >= 0 (got {self.checkpoints})")


@dataclass(frozen=True)
class SweepConfig:
    """The grid: a number of seeds and lists of values for dotted fields ("train.lr": [...])."""

    seeds: int = 1
    seed_data: bool = False  # each seed also draws its own dataset (task.data_seed = train.seed), as PAIR's runs
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    # named bundles of settings, one more axis of the grid ("variant"): (name, ((dotted, value), ...))
    variants: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def validate(self) -> None:
        _check(self.seeds >= 1, f"sweep.seeds must be at least 1 (got {self.seeds})")
        swept = {k for k, _ in self.axes}
        _check(not (self.seed_data and "task.data_seed" in swept),
               "sweep.seed_data sets task.data_seed from each seed; do not also sweep task.data_seed")
        for name, fields in self.variants:
            for dotted, _ in fields:
                _check(dotted not in swept, f"sweep.variants.{name} sets {dotted!r}, which is also a sweep axis; "
                                            f"set it in one place")

    def variant(self, name: str) -> dict[str, Any]:
        """The dotted fields a named variant sets."""
        return dict(dict(self.variants)[name])


@dataclass(frozen=True)
class Spec:
    """A whole sweep spec: what to train, how, and over which grid."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    name: str = "sweep"
    reference: str = ""  # published data that `lab report` compares the run with (see lab.references)

    def validate(self) -> None:
        self.task.validate()
        self.model.validate()
        self.train.validate()
        self.sweep.validate()
        if not self.task.is_table:
            _check(self.model.kind == "mlp", f"task.name = {self.task.name!r} needs model.kind = 'mlp'")
        _check(self.task.sequence == "a_b_eq" or self.model.kind == "transformer",
               f"task.sequence = {self.task.sequence!r} is a transformer's input; an MLP reads the operands")
        _check(self.task.sequence != "eos_a_op_b_eq_c" or self.model.readout == "vocab",
               "task.sequence = 'eos_a_op_b_eq_c' asks for <eos> after the answer; set model.readout = 'vocab'")
        _check(not (self.model.single_logit and self.task.n_classes != 2),
               f"model.single_logit needs a two-class task (task.name = {self.task.name!r} has "
               f"{self.task.n_classes} classes)")
        _check(not (self.model.single_logit and self.train.loss not in ("cross_entropy",)),
               f"model.single_logit is trained with the sigmoid cross entropy: set train.loss = 'cross_entropy' "
               f"(got {self.train.loss!r})")
        _check(not (self.model.bias_input and self.task.is_table),
               "model.bias_input is for vector inputs (parity tasks); table tasks have no input column to add")
        _check(not (self.task.fresh_samples and not self.train.batch_size),
               "task.fresh_samples draws train.batch_size new examples every step; set train.batch_size")
        _check(not (self.task.fresh_samples and self.task.is_table),
               "task.fresh_samples is for the parity tasks; a table task has finitely many examples")
        _check(not (self.task.bits == "01" and self.task.name not in ("parity", "multitask_parity")),
               "task.bits = '01' is implemented for task.name = 'parity' and 'multitask_parity'")
        _check(not self.reference or self.reference in REFERENCES,
               f"reference = {self.reference!r} is not known; choose one of {', '.join(REFERENCES)}")
        _check(not (self.model.tie_embed and self.task.name != "modular"),
               f"model.tie_embed needs task.name = 'modular' (the unembedding must have one row per operand value; "
               f"{self.task.name!r} has {self.task.n_classes} classes)")

    def replace(self, dotted: str, value: Any) -> "Spec":
        """A copy with one dotted field ("train.lr") set to value."""
        section, name = dotted.split(".", 1)
        sub = dataclasses.replace(getattr(self, section), **{name: value})
        return dataclasses.replace(self, **{section: sub})

    def get(self, dotted: str) -> Any:
        """The value of one dotted field ("train.lr")."""
        section, name = dotted.split(".", 1)
        return getattr(getattr(self, section), name)

    def replace_all(self, fields: dict[str, Any]) -> "Spec":
        """A copy with every dotted field of fields set; a "variant" entry sets that variant's fields."""
        out = self
        for dotted, value in fields.items():
            if dotted == "variant":
                out = out.replace_all(self.sweep.variant(value))
            else:
                out = out.replace(dotted, value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON- and TOML-ready) of the whole spec."""
        out = {s: dataclasses.asdict(getattr(self, s)) for s in ("task", "model", "train")}
        out["sweep"] = {"seeds": self.sweep.seeds, **{k: list(v) for k, v in self.sweep.axes}}
        if self.sweep.seed_data:
            out["sweep"]["seed_data"] = True
        if self.sweep.variants:
            out["sweep"]["variants"] = {name: dict(fields) for name, fields in self.sweep.variants}
        out["model"]["init_overrides"] = dict(self.model.init_overrides)
        out["name"] = self.name
        if self.reference:
            out["reference"] = self.reference
        return out
