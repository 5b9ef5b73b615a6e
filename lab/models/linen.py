"""The Flax Linen modules: an MLP over operands or bit vectors, and a decoder-only transformer.

This is the only file of the lab that imports Flax. Every module is written for a batch of
examples; the caller vmaps over models. Intermediate activations are sown into the
"intermediates" collection under readable names.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from lab.config import ModelConfig
from lab.models.initializers import initializer

ACTIVATION_FNS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "quadratic": jnp.square,
}


def fixed_table(embedding: str, p: int) -> jax.Array | None:
    """The fixed embedding of every operand value [p, E] (onehot, circle, circle_unit_columns), else None.

    circle: the unit circle [cos, sin](2 pi a / p), float32; circle_unit_columns: the same columns scaled to
    unit norm over a (the PAIR five-neuron notebook's gen_fixed_embed), in the default float dtype.
    """
    if embedding == "onehot":
        return jnp.eye(p, dtype=jnp.float32)
    if embedding == "circle":
        angle_V = 2 * jnp.pi * jnp.arange(p, dtype=jnp.float32) / p
        return jnp.stack([jnp.cos(angle_V), jnp.sin(angle_V)], axis=-1)
    if embedding == "circle_unit_columns":
        angle_V = 2 * np.pi * np.arange(p) / p
        table_Vx2 = np.stack([np.cos(angle_V), np.sin(angle_V)], axis=-1)
        return jnp.asarray(table_Vx2 / np.linalg.norm(table_Vx2, axis=0, keepdims=True))
    return None


def replace_units(h: jax.Array, replace) -> jax.Array:
    """h with some units set to given values; replace None leaves h as it is (the same array).

    replace = (ablated_U bool, value_Ux...): value has h's trailing shape (the units axis first,
    e.g. [F] for neurons of h_BxQxF or [H, E] for heads of z_BxQxHxE); ablated marks the units.
    """
    if replace is None:
        return h
    ablated_U, value_Ux = replace
    n_lead = h.ndim - value_Ux.ndim
    mask = ablated_U.reshape((1,) * n_lead + ablated_U.shape + (1,) * (value_Ux.ndim - 1))
    return jnp.where(mask, value_Ux.reshape((1,) * n_lead + value_Ux.shape).astype(h.dtype), h)


class MLP(nn.Module):
    """One or more hidden layers over two embedded operands, or over a float vector input.

    Operand inputs x_Bx2 (int) are embedded (learned, one-hot or the fixed circle
    [cos, sin](2 pi a / p)), then combined by concatenation or by summing one shared
    projection of each operand (the PAIR explorable's model). Vector inputs x_BxI (float)
    enter the first hidden layer directly.

    `ablate` (optional, for analyses) is a dict whose "neurons" entry (ablated_F bool, value_F)
    replaces those neurons of the last hidden layer (after the activation) before the readout; with
    a "neuron_layer" entry (bool [depth], one True) they are replaced in that hidden layer instead.
    """

    cfg: ModelConfig
    n_vocab: int  # operand values (p); 0 for vector inputs
    n_classes: int

    def embedding_table(self) -> jax.Array:
        """The embedding of every operand value, [V, E]."""
        cfg, p = self.cfg, self.n_vocab
        fixed = fixed_table(cfg.embedding, p)
        if fixed is not None:
            return fixed
        return self.param("W_E", initializer(cfg, "W_E", "embedding", p, 1.0), (p, cfg.d_embed))

    def weight(self, name: str, shape: tuple[int, int]) -> jax.Array:
        """A weight [I, O] of this MLP, initialized by the config's preset (lab: N(0, 1/I))."""
        return self.param(name, initializer(self.cfg, name, "weight", shape[0], 1 / math.sqrt(shape[0])), shape)

    def dense(self, name: str, h_BxI: jax.Array, d_out: int) -> jax.Array:
        """h @ W_<name> (+ b_<name>)."""
        fan_in = h_BxI.shape[-1]
        out_BxO = h_BxI @ self.weight(f"W_{name}", (fan_in, d_out))
        if self.cfg.bias:
            b_O = self.param(f"b_{name}", initializer(self.cfg, f"b_{name}", "bias", fan_in), (d_out,))
            out_BxO = out_BxO + b_O[None]
        return out_BxO

    @nn.compact
    def __call__(self, x: jax.Array, ablate: dict | None = None) -> jax.Array:
        cfg = self.cfg
        act = ACTIVATION_FNS[cfg.activation]
        neurons, on_L = (ablate or {}).get("neurons"), (ablate or {}).get("neuron_layer")

        def replaced_in(layer: int):
            """The (ablated_F, value_F) replacement of hidden layer `layer`, or None."""
            if neurons is None or (on_L is None and layer != cfg.depth - 1):
                return None
            return neurons if on_L is None else (neurons[0] & on_L[layer], neurons[1])

        if self.n_vocab:
            # Project every operand value once ([V, F]), then gather: cheaper than per example.
            e_VxE = self.embedding_table()
            self.sow("intermediates", "embed_a", e_VxE[x[:, 0]])
            self.sow("intermediates", "embed_b", e_VxE[x[:, 1]])
            n_e = e_VxE.shape[-1]
            n_in = n_e if cfg.combine == "sum" else 2 * n_e
            w_in_IxF = self.weight("W_in", (n_in, cfg.width))
            proj_a_VxF = e_VxE @ w_in_IxF[:n_e]
            proj_b_VxF = proj_a_VxF if cfg.combine == "sum" else e_VxE @ w_in_IxF[n_e:]
            pre_BxF = proj_a_VxF[x[:, 0]] + proj_b_VxF[x[:, 1]]
            if cfg.bias:
                pre_BxF = pre_BxF + self.param("b_in", initializer(cfg, "b_in", "bias", n_in), (cfg.width,))[None]
        else:
            if cfg.bias_input:  # a constant-1 input: the bias is the last row of W_in, decayed like a weight
                x = jnp.concatenate([x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], axis=-1)
            pre_BxF = self.dense("in", x, cfg.width)
        post_BxF = replace_units(act(pre_BxF), replaced_in(0))  # sown: what the next layer reads
        self.sow("intermediates", "mlp_pre_0", pre_BxF)
        self.sow("intermediates", "mlp_post_0", post_BxF)
        for layer in range(1, cfg.depth):
            pre_BxF = self.dense(f"hidden_{layer}", post_BxF, cfg.width)
            post_BxF = replace_units(act(pre_BxF), replaced_in(layer))
            self.sow("intermediates", f"mlp_pre_{layer}", pre_BxF)
            self.sow("intermediates", f"mlp_post_{layer}", post_BxF)
        if cfg.tie_embed:  # unembed with the embedding's transpose (learned or fixed), in the cheap order
            w_out_FxE = self.weight("W_out", (cfg.width, e_VxE.shape[-1]))  # e_VxE: the operands' table above
            return post_BxF @ (w_out_FxE @ e_VxE.T)
        return self.dense("out", post_BxF, self.n_classes)


class Attention(nn.Module):
    """Causal multi-head attention with queries at the last n_q positions and keys at every one.

    In the first block the residual stream takes only V x L values (a token at a position), so
    `h_table_VxLxD` may be given with the tokens: the query, key and value projections are then
    computed once per table entry and their rows gathered, instead of once per example and position.
    (Folding W_V into W_O on the table saves a product but gathers d_model-wide rows: slower on CPU.)

    `heads` (optional) = (ablated_H bool, value_HxE) replaces those heads' outputs z (before W_O) at
    every query position. z is sown into the "heads" collection, kept only when that is mutable.
    """

    cfg: ModelConfig

    @nn.compact
    def __call__(self, h_BxLxD, n_q: int, tokens_BxL=None, h_table_VxLxD=None, heads=None) -> jax.Array:
        cfg = self.cfg
        std = 1 / math.sqrt(cfg.d_model)
        shape = (cfg.n_heads, cfg.d_model, cfg.d_head)
        w_Q_HxDxE, w_K_HxDxE, w_V_HxDxE = (
            self.param(name, initializer(cfg, name, "weight", cfg.d_model, std), shape) for name in ("W_Q", "W_K", "W_V"))
        w_O_HxExD = self.param("W_O", initializer(cfg, "W_O", "weight", cfg.n_heads * cfg.d_head, std),
                               (cfg.n_heads, cfg.d_head, cfg.d_model))
        n_l = h_BxLxD.shape[1]
        if h_table_VxLxD is None:
            q_BxQxHxE = jnp.einsum("bqd,hde->bqhe", h_BxLxD[:, n_l - n_q :], w_Q_HxDxE)
            k_BxLxHxE = jnp.einsum("bld,hde->blhe", h_BxLxD, w_K_HxDxE)
            v_BxLxHxE = jnp.einsum("bld,hde->blhe", h_BxLxD, w_V_HxDxE)
        else:  # rows of the (token, position) tables, gathered
            n_v = h_table_VxLxD.shape[0]
            rows_BxL = tokens_BxL * n_l + jnp.arange(n_l)[None, :]
            table_VLxD = h_table_VxLxD.reshape(n_v * n_l, cfg.d_model)
            q_BxQxHxE = jnp.take(jnp.einsum("vd,hde->vhe", table_VLxD, w_Q_HxDxE), rows_BxL[:, n_l - n_q :], axis=0)
            k_BxLxHxE = jnp.take(jnp.einsum("vd,hde->vhe", table_VLxD, w_K_HxDxE), rows_BxL, axis=0)
            v_BxLxHxE = jnp.take(jnp.einsum("vd,hde->vhe", table_VLxD, w_V_HxDxE), rows_BxL, axis=0)
        scores_BxHxQxL = jnp.einsum("bqhe,blhe->bhql", q_BxQxHxE, k_BxLxHxE) / math.sqrt(cfg.d_head)
        causal_QxL = jnp.arange(n_l)[None, :] <= (jnp.arange(n_q) + n_l - n_q)[:, None]
        scores_BxHxQxL = jnp.where(causal_QxL[None, None], scores_BxHxQxL, -jnp.inf)
        pattern_BxHxQxL = jax.nn.softmax(scores_BxHxQxL, axis=-1)
        self.sow("intermediates", "attn_pattern", pattern_BxHxQxL)
        z_BxQxHxE = jnp.einsum("bhql,blhe->bqhe", pattern_BxHxQxL, v_BxLxHxE)
        self.sow("heads", "z", z_BxQxHxE)
        z_BxQxHxE = replace_units(z_BxQxHxE, heads)
        return jnp.einsum("bqhe,hed->bqd", z_BxQxHxE, w_O_HxExD)


class FeedForward(nn.Module):
    """The transformer's MLP block: W_out act(W_in h + b_in) + b_out; `neurons` = (ablated_F, value_F) replaces some."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, h_BxQxD: jax.Array, neurons=None) -> jax.Array:
        cfg = self.cfg
        std = 1 / math.sqrt(cfg.d_model)
        w_in_DxF = self.param("W_in", initializer(cfg, "W_in", "weight", cfg.d_model, std), (cfg.d_model, cfg.d_mlp))
        b_in_F = self.param("b_in", initializer(cfg, "b_in", "bias", cfg.d_model), (cfg.d_mlp,))
        w_out_FxD = self.param("W_out", initializer(cfg, "W_out", "weight", cfg.d_mlp, std), (cfg.d_mlp, cfg.d_model))
        b_out_D = self.param("b_out", initializer(cfg, "b_out", "bias", cfg.d_mlp), (cfg.d_model,))
        pre_BxQxF = h_BxQxD @ w_in_DxF + b_in_F[None, None]
        post_BxQxF = replace_units(ACTIVATION_FNS[cfg.activation](pre_BxQxF), neurons)
        self.sow("intermediates", "mlp_pre", pre_BxQxF)
        self.sow("intermediates", "mlp_post", post_BxQxF)
        return post_BxQxF @ w_out_FxD + b_out_D[None, None]


class Transformer(nn.Module):
    """Decoder-only transformer reading logits at the last position (Nanda et al. 2023 shapes).

    Only the readout's needs are computed: the last block's queries, MLP and the unembedding
    run at the last position only, and the first block's projections once per (token, position).
    `ablate` (optional) may hold "neurons" (ablated_F, value_F) for the last block's MLP and "heads"
    (ablated_H, value_HxE) for the last block's attention heads, replaced at the last position.
    """

    cfg: ModelConfig
    n_vocab: int
    n_ctx: int
    n_classes: int

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, ablate: dict | None = None) -> jax.Array:
        cfg = self.cfg
        ablate = ablate or {}
        std = 1 / math.sqrt(cfg.d_model)
        w_E_VxD = self.param("W_E", initializer(cfg, "W_E", "embedding", self.n_vocab, std), (self.n_vocab, cfg.d_model))
        w_pos_LxD = self.param("W_pos", initializer(cfg, "W_pos", "embedding", self.n_ctx, std),
                               (self.n_ctx, cfg.d_model))
        n_l = tokens_BxL.shape[1]
        table_VxLxD = w_E_VxD[:, None, :] + w_pos_LxD[None, :n_l]  # every (token, position) embedding
        table_VLxD = table_VxLxD.reshape(self.n_vocab * n_l, cfg.d_model)
        rows_BxL = tokens_BxL * n_l + jnp.arange(n_l)[None, :]
        resid_BxLxD = jnp.take(table_VLxD, rows_BxL, axis=0)
        self.sow("intermediates", "embed", resid_BxLxD)
        for layer in range(cfg.n_layers):
            last = layer == cfg.n_layers - 1
            block = f"block_{layer}"
            ln_attn = nn.LayerNorm(name=f"{block}_ln_attn") if cfg.layer_norm else (lambda h: h)
            n_q = 1 if last else n_l
            attention = Attention(cfg, name=f"{block}_attn")
            heads = ablate.get("heads") if last else None
            if layer == 0:
                out_BxQxD = attention(resid_BxLxD, n_q, tokens_BxL, ln_attn(table_VxLxD), heads=heads)
            else:
                out_BxQxD = attention(ln_attn(resid_BxLxD), n_q, heads=heads)
            if layer == 0:  # gather only the positions this block writes
                resid_BxQxD = jnp.take(table_VLxD, rows_BxL[:, n_l - n_q :], axis=0) + out_BxQxD
            else:
                resid_BxQxD = resid_BxLxD[:, n_l - n_q :] + out_BxQxD
            self.sow("intermediates", f"{block}_resid_mid", resid_BxQxD)
            h_BxQxD = nn.LayerNorm(name=f"{block}_ln_mlp")(resid_BxQxD) if cfg.layer_norm else resid_BxQxD
            neurons = ablate.get("neurons") if last else None
            resid_BxLxD = resid_BxQxD + FeedForward(cfg, name=f"{block}_mlp")(h_BxQxD, neurons)
            self.sow("intermediates", f"{block}_resid_post", resid_BxLxD)
        final_BxD = resid_BxLxD[:, -1]
        if cfg.layer_norm:
            final_BxD = nn.LayerNorm(name="ln_final")(final_BxD)
        w_U_DxC = self.param("W_U", initializer(cfg, "W_U", "unembedding", cfg.d_model, 1 / math.sqrt(self.n_vocab)),
                             (cfg.d_model, self.n_classes))
        return final_BxD @ w_U_DxC
