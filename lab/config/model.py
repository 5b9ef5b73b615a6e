"""The model section: an MLP or a decoder-only transformer, and its initializers."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.choices import (
    ACTIVATIONS, BLOCKS, COMBINES, EMBEDDINGS, INIT_PRESETS, MODEL_KINDS, POSITIONS, READOUTS, SpecError,
    _check, _choice,
)
from lab.initializer_text import parse_initializer


@dataclass(frozen=True)
class ModelConfig:
    """The network: an MLP or a decoder-only transformer (Nanda et al. 2023 shapes by default)."""

    kind: str = "transformer"
    init: str = "lab"  # initializer preset: lab, haiku or torch (see lab.models.initializers)
    init_overrides: tuple[tuple[str, str], ...] = ()  # per parameter name: ((W_E, "variance_scaling(2)"), ...)
    init_scale: float = 1.0
    # initial parameters from a file, the same for every model: a lab.references name (nanda_demo_start) or an .npz
    # path keyed by parameter path (block_0_attn/W_Q); "" draws them (model.init, model.init_overrides)
    init_from: str = ""
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

    def __post_init__(self):
        """init_overrides in name order, as a spec file gives them, so a config equals its own round trip."""
        try:
            ordered = tuple(sorted(self.init_overrides, key=lambda pair: str(pair[0])))
        except (TypeError, IndexError, KeyError):
            return  # not (name, text) pairs: validate() names what is wrong
        object.__setattr__(self, "init_overrides", ordered)

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
        names = [name for name, _ in self.init_overrides]
        _check(len(set(names)) == len(names),
               f"model.init_overrides names a parameter twice ({sorted({n for n in names if names.count(n) > 1})}); "
               "give each parameter one initializer")
        for name, text in self.init_overrides:
            _check(isinstance(name, str) and isinstance(text, str),
                   f"model.init_overrides must map parameter names to initializer strings (got {name!r} = {text!r})")
            try:
                parse_initializer(text)
            except ValueError as e:
                raise SpecError(f"model.init_overrides.{name}: {e}") from None
        _check(self.init_scale > 0, f"model.init_scale must be positive (got {self.init_scale})")
        _check(isinstance(self.init_from, str),
               f"model.init_from must be a reference name or a path (got {self.init_from!r})")
        _check(not (self.init_from and self.init_overrides),
               f"model.init_from = {self.init_from!r} gives every parameter its initial value; "
               "drop model.init_overrides")
        for name in ("d_embed", "width", "depth", "n_layers", "d_model", "n_heads", "d_head", "d_mlp"):
            _check(getattr(self, name) >= 1, f"model.{name} must be at least 1 (got {getattr(self, name)})")
        _check(not (self.tie_embed and self.embedding == "onehot"),
               "model.tie_embed with model.embedding = 'onehot' is the identity readout; use learned or a circle")
