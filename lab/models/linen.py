"""The Flax Linen modules: an MLP over operands or bit vectors, and a decoder-only transformer.

This is the only file of the lab that imports Flax. Every module is written for a batch of
examples; the caller vmaps over models. Every intermediate activation passes through `site`:
its hook (if any, see `lab.models.sites`) is applied, and the result is sown into the
"intermediates" collection under the site's name.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from lab.config import ModelConfig
from lab.models.initializers import initializer
from lab.models.attention_layouts import mix_values, softmax_few, uses_score_table
from lab.models.products import dense_product, one_hot_product
from lab.models.sites import intervene, scoped

ACTIVATION_FNS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,  # the tanh approximation (JAX's default)
    "gelu_erf": partial(jax.nn.gelu, approximate=False),  # the exact x Phi(x) (torch.nn.GELU's default)
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


def site(module: nn.Module, hooks, name: str, act: jax.Array) -> jax.Array:
    """The activation at a hook site after its hook, sown under the site's name."""
    act = intervene(hooks, name, act)
    module.sow("intermediates", name, act)
    return act


class MLP(nn.Module):
    """One or more hidden layers over two embedded operands, or over a float vector input.

    Operand inputs x_Bx2 (int) are embedded (learned, one-hot or the fixed circle
    [cos, sin](2 pi a / p)), then combined by concatenation or by summing one shared
    projection of each operand (the PAIR explorable's model). Vector inputs x_BxI (float)
    enter the first hidden layer directly; their first n_one_hot columns (multitask parity's task id) hold at
    most one nonzero per row and are read as a row gather of W_in (`one_hot_product`), the same sum as the
    product.

    `hooks` (optional, for analyses): {site name: hook}, see `lab.models.sites`.
    """

    cfg: ModelConfig
    n_vocab: int  # operand values (p); 0 for vector inputs
    n_classes: int
    n_one_hot: int = 0  # leading columns of a vector input that are one-hot (at most one nonzero per row)

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

    def dense(self, name: str, h_BxI: jax.Array, d_out: int, n_one_hot: int = 0, ones_column: bool = False
              ) -> jax.Array:
        """h @ W_<name> (+ b_<name>); h's first n_one_hot columns are one-hot and read as a gather. With
        ones_column, h has one more input, constant 1, after its columns: W's last row, added (a bias that is
        decayed like a weight). The products are `dense_product`'s, whose gradients XLA:CPU runs faster."""
        fan_in = h_BxI.shape[-1] + ones_column
        w_JxO = self.weight(f"W_{name}", (fan_in, d_out))
        b_O = self.param(f"b_{name}", initializer(self.cfg, f"b_{name}", "bias", fan_in), (d_out,)) if self.cfg.bias \
            else None
        if ones_column:  # the constant-1 input's row is a bias of the product
            w_JxO, b_O = w_JxO[:-1], (w_JxO[-1] if b_O is None else w_JxO[-1] + b_O)
        if n_one_hot:
            t = n_one_hot
            return one_hot_product(h_BxI[:, :t], w_JxO[:t]) + dense_product(h_BxI[:, t:], w_JxO[t:], b_O)
        return dense_product(h_BxI, w_JxO, b_O)

    @nn.compact
    def __call__(self, x: jax.Array, hooks: dict | None = None) -> jax.Array:
        cfg = self.cfg
        act = ACTIVATION_FNS[cfg.activation]
        if self.n_vocab:
            e_VxE = self.embedding_table()
            e_a_BxE = site(self, hooks, "embed_a", e_VxE[x[:, 0]])
            e_b_BxE = site(self, hooks, "embed_b", e_VxE[x[:, 1]])
            n_e = e_VxE.shape[-1]
            n_in = n_e if cfg.combine == "sum" else 2 * n_e
            w_in_IxF = self.weight("W_in", (n_in, cfg.width))
            w_b_ExF = w_in_IxF[:n_e] if cfg.combine == "sum" else w_in_IxF[n_e:]
            if hooks and ("embed_a" in hooks or "embed_b" in hooks):  # the hooked embeddings, per example
                pre_BxF = e_a_BxE @ w_in_IxF[:n_e] + e_b_BxE @ w_b_ExF
            else:  # project every operand value once ([V, F]), then gather: cheaper than per example
                proj_a_VxF = e_VxE @ w_in_IxF[:n_e]
                proj_b_VxF = proj_a_VxF if cfg.combine == "sum" else e_VxE @ w_b_ExF
                pre_BxF = proj_a_VxF[x[:, 0]] + proj_b_VxF[x[:, 1]]
            if cfg.bias:
                pre_BxF = pre_BxF + self.param("b_in", initializer(cfg, "b_in", "bias", n_in), (cfg.width,))[None]
        else:
            # bias_input: a constant-1 input, so the bias is the last row of W_in, decayed like a weight
            pre_BxF = self.dense("in", x, cfg.width, self.n_one_hot, ones_column=cfg.bias_input)
        post_BxF = site(self, hooks, "mlp_post_0", act(site(self, hooks, "mlp_pre_0", pre_BxF)))
        for layer in range(1, cfg.depth):
            pre_BxF = site(self, hooks, f"mlp_pre_{layer}", self.dense(f"hidden_{layer}", post_BxF, cfg.width))
            post_BxF = site(self, hooks, f"mlp_post_{layer}", act(pre_BxF))
        if cfg.tie_embed:  # unembed with the embedding's transpose (learned or fixed), in the cheap order
            w_out_FxE = self.weight("W_out", (cfg.width, e_VxE.shape[-1]))  # e_VxE: the operands' table above
            # [V, F] = W_E W_out^T contracts both tables' rows: 3x faster in XLA:CPU's step than W_out W_E^T [F, V]
            # (profiled on the PAIR MLP); the logits then contract two F-wide rows
            u_VxF = e_VxE @ w_out_FxE.T
            return jnp.einsum("bf,vf->bv", post_BxF, u_VxF)
        return self.dense("out", post_BxF, self.n_classes)


class Attention(nn.Module):
    """Causal multi-head attention with queries at the last n_q positions and keys at every one.

    In the first block the residual stream takes only V x L values (a token at a position), so
    `h_table_VxLxD` may be given with the tokens: the query, key and value projections are then
    computed once per table entry and their rows gathered, instead of once per example and position;
    for a batch large against the table (`uses_score_table`) the scores too, once per (query row, key row).
    (Folding W_V into W_O on the table saves a product but gathers d_model-wide rows: slower on CPU.)
    The softmax over the few positions and the sum of values run as elementwise ops and products
    (`softmax_few`, `mix_values`), and W_O as `dense_product`: XLA:CPU's reductions over a short axis and its
    [1 x L] x [L x E] batched products were a third of Nanda's step.

    `hooks`: this block's hooks, by site name within it (attn_pattern, z).
    """

    cfg: ModelConfig

    @nn.compact
    def __call__(self, h_BxLxD, n_q: int, tokens_BxL=None, h_table_VxLxD=None, hooks=None) -> jax.Array:
        cfg = self.cfg
        std = 1 / math.sqrt(cfg.d_model)
        shape = (cfg.n_heads, cfg.d_model, cfg.d_head)
        w_Q_HxDxE, w_K_HxDxE, w_V_HxDxE = (
            self.param(name, initializer(cfg, name, "weight", cfg.d_model, std), shape) for name in ("W_Q", "W_K", "W_V"))
        w_O_HxExD = self.param("W_O", initializer(cfg, "W_O", "weight", cfg.n_heads * cfg.d_head, std),
                               (cfg.n_heads, cfg.d_head, cfg.d_model))
        if cfg.attn_bias:
            b_Q_HxE, b_K_HxE, b_V_HxE = (self.param(name, initializer(cfg, name, "bias", cfg.d_model),
                                                    (cfg.n_heads, cfg.d_head)) for name in ("b_Q", "b_K", "b_V"))
        n_b, n_l = h_BxLxD.shape[:2]
        heads, root_e = (cfg.n_heads, cfg.d_head), math.sqrt(cfg.d_head)
        if h_table_VxLxD is None:
            q_BxQxHxE = jnp.einsum("bqd,hde->bqhe", h_BxLxD[:, n_l - n_q :], w_Q_HxDxE)
            k_BxLxHxE = jnp.einsum("bld,hde->blhe", h_BxLxD, w_K_HxDxE)
            v_BxLxHxE = jnp.einsum("bld,hde->blhe", h_BxLxD, w_V_HxDxE)
            if cfg.attn_bias:
                q_BxQxHxE, k_BxLxHxE, v_BxLxHxE = (q_BxQxHxE + b_Q_HxE[None, None], k_BxLxHxE + b_K_HxE[None, None],
                                                   v_BxLxHxE + b_V_HxE[None, None])
            scores_BxHxQxL = jnp.einsum("bqhe,blhe->bhql", q_BxQxHxE, k_BxLxHxE) / root_e
        else:  # rows of the (token, position) tables, gathered
            n_v = h_table_VxLxD.shape[0]
            table_VLxD = h_table_VxLxD.reshape(n_v * n_l, cfg.d_model)
            q_VQxHxE = jnp.einsum("vd,hde->vhe", table_VLxD, w_Q_HxDxE).reshape(n_v, n_l, *heads)[:, n_l - n_q :
                                                                                                   ].reshape(-1, *heads)
            k_VLxHxE = jnp.einsum("vd,hde->vhe", table_VLxD, w_K_HxDxE)
            v_VLxHxE = jnp.einsum("vd,hde->vhe", table_VLxD, w_V_HxDxE)
            if cfg.attn_bias:
                q_VQxHxE, k_VLxHxE, v_VLxHxE = (q_VQxHxE + b_Q_HxE[None], k_VLxHxE + b_K_HxE[None],
                                                v_VLxHxE + b_V_HxE[None])
            rows_BxL = tokens_BxL * n_l + jnp.arange(n_l)[None, :]  # (token, position) rows
            q_rows_BxQ = tokens_BxL[:, n_l - n_q :] * n_q + jnp.arange(n_q)[None, :]  # (token, query position) rows
            v_BxLxHxE = jnp.take(v_VLxHxE, rows_BxL, axis=0)
            if uses_score_table(n_v, n_b):  # every (query row, key row) score, then a gather per example
                score_VQxVLxH = jnp.einsum("ihe,jhe->ijh", q_VQxHxE, k_VLxHxE) / root_e
                pairs_BxQxL = q_rows_BxQ[:, :, None] * (n_v * n_l) + rows_BxL[:, None, :]
                scores_BxHxQxL = jnp.take(score_VQxVLxH.reshape(-1, cfg.n_heads), pairs_BxQxL, axis=0
                                          ).transpose(0, 3, 1, 2)
            else:
                scores_BxHxQxL = jnp.einsum("bqhe,blhe->bhql", jnp.take(q_VQxHxE, q_rows_BxQ, axis=0),
                                            jnp.take(k_VLxHxE, rows_BxL, axis=0)) / root_e
        causal_QxL = jnp.arange(n_l)[None, :] <= (jnp.arange(n_q) + n_l - n_q)[:, None]
        scores_BxHxQxL = jnp.where(causal_QxL[None, None], scores_BxHxQxL, -jnp.inf)
        pattern_BxHxQxL = site(self, hooks, "attn_pattern", softmax_few(scores_BxHxQxL))
        z_BxQxHxE = site(self, hooks, "z", mix_values(pattern_BxHxQxL, v_BxLxHxE))
        n_he = cfg.n_heads * cfg.d_head
        out_BxQxD = dense_product(z_BxQxHxE.reshape(n_b * n_q, n_he), w_O_HxExD.reshape(n_he, cfg.d_model)
                                  ).reshape(n_b, n_q, cfg.d_model)
        if cfg.attn_bias:
            out_BxQxD = out_BxQxD + self.param("b_O", initializer(cfg, "b_O", "bias", cfg.n_heads * cfg.d_head),
                                               (cfg.d_model,))[None, None]
        return out_BxQxD


class FeedForward(nn.Module):
    """The transformer's MLP block: W_out act(W_in h + b_in) + b_out (no biases with model.bias = false);
    `hooks`: this block's hooks (mlp_pre, mlp_post)."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, h_BxQxD: jax.Array, hooks=None) -> jax.Array:
        cfg = self.cfg
        std = 1 / math.sqrt(cfg.d_model)
        w_in_DxF = self.param("W_in", initializer(cfg, "W_in", "weight", cfg.d_model, std), (cfg.d_model, cfg.d_mlp))
        w_out_FxD = self.param("W_out", initializer(cfg, "W_out", "weight", cfg.d_mlp, std), (cfg.d_mlp, cfg.d_model))
        b_in_F, b_out_D = ((self.param("b_in", initializer(cfg, "b_in", "bias", cfg.d_model), (cfg.d_mlp,)),
                            self.param("b_out", initializer(cfg, "b_out", "bias", cfg.d_mlp), (cfg.d_model,)))
                           if cfg.bias else (None, None))
        n_b, n_q = h_BxQxD.shape[:2]
        pre_BxQxF = dense_product(h_BxQxD.reshape(n_b * n_q, -1), w_in_DxF, b_in_F).reshape(n_b, n_q, -1)
        pre_BxQxF = site(self, hooks, "mlp_pre", pre_BxQxF)
        post_BxQxF = site(self, hooks, "mlp_post", ACTIVATION_FNS[cfg.activation](pre_BxQxF))
        return dense_product(post_BxQxF.reshape(n_b * n_q, -1), w_out_FxD, b_out_D).reshape(n_b, n_q, -1)


def sinusoidal_positions(n_ctx: int, d_model: int) -> jax.Array:
    """The fixed position table [L, D]: sin(pos / 10000^(2k/D)) at column 2k, cos at 2k + 1 (Power et al.)."""
    pos_Lx1 = np.arange(n_ctx)[:, None]
    rate_K = 10000.0 ** (np.arange(0, d_model, 2) / d_model)
    table_LxD = np.zeros((n_ctx, d_model))
    table_LxD[:, 0::2] = np.sin(pos_Lx1 / rate_K)
    table_LxD[:, 1::2] = np.cos(pos_Lx1 / rate_K[: d_model // 2])
    return jnp.asarray(table_LxD, jnp.float32)


class Transformer(nn.Module):
    """Decoder-only transformer reading logits at the last position(s) (Nanda et al. 2023 shapes by default).

    Only the readout's needs are computed: the last block's queries, MLP and the unembedding run at
    the last n_answers positions only, and the first block's projections once per (token, position).
    model.block places the LayerNorms (pre_ln, Grokfast's ln_residual, Power et al.'s post_ln).
    Returns logits [B, n_answers, C]. `hooks` (optional, for analyses): {site name: hook}, see
    `lab.models.sites`; a hook on `embed` makes the first block run per example instead of per table row.
    """

    cfg: ModelConfig
    n_vocab: int
    n_ctx: int
    n_classes: int
    n_answers: int = 1

    def layer_norm(self, name: str):
        """A LayerNorm (or the identity without model.layer_norm)."""
        if not self.cfg.layer_norm:
            return lambda h: h
        return nn.LayerNorm(epsilon=self.cfg.ln_eps, name=name)

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, hooks: dict | None = None) -> jax.Array:
        cfg = self.cfg
        hooks = hooks or {}
        std = 1 / math.sqrt(cfg.d_model)
        w_E_VxD = self.param("W_E", initializer(cfg, "W_E", "embedding", self.n_vocab, std), (self.n_vocab, cfg.d_model))
        n_l = tokens_BxL.shape[1]
        if cfg.positions == "sinusoidal":
            w_pos_LxD = sinusoidal_positions(n_l, cfg.d_model)
        else:
            w_pos_LxD = self.param("W_pos", initializer(cfg, "W_pos", "embedding", self.n_ctx, std),
                                   (self.n_ctx, cfg.d_model))[:n_l]
        table_VxLxD = w_E_VxD[:, None, :] + w_pos_LxD[None]  # every (token, position) embedding
        rows_BxL = tokens_BxL * n_l + jnp.arange(n_l)[None, :]
        resid_BxLxD = site(self, hooks, "embed",
                           jnp.take(table_VxLxD.reshape(self.n_vocab * n_l, cfg.d_model), rows_BxL, axis=0))
        pre, post = cfg.block in ("pre_ln", "ln_residual"), cfg.block == "post_ln"
        for layer in range(cfg.n_layers):
            last = layer == cfg.n_layers - 1
            block = f"block_{layer}"
            ln_attn, ln_mlp = self.layer_norm(f"{block}_ln_attn"), self.layer_norm(f"{block}_ln_mlp")
            n_q = self.n_answers if last else n_l
            attention = Attention(cfg, name=f"{block}_attn")
            attn_hooks = scoped(hooks, f"{block}_attn")
            if layer == 0 and "embed" not in hooks:  # (token, position) table rows: its projections run per row
                table_in = ln_attn(table_VxLxD) if pre else table_VxLxD
                out_BxQxD = attention(resid_BxLxD, n_q, tokens_BxL, table_in, hooks=attn_hooks)
                base_table = table_in if cfg.block == "ln_residual" else table_VxLxD
                base_BxQxD = jnp.take(base_table.reshape(self.n_vocab * n_l, cfg.d_model), rows_BxL[:, n_l - n_q:],
                                      axis=0)
            else:
                attn_in = ln_attn(resid_BxLxD) if pre else resid_BxLxD
                out_BxQxD = attention(attn_in, n_q, hooks=attn_hooks)
                base_BxQxD = (attn_in if cfg.block == "ln_residual" else resid_BxLxD)[:, n_l - n_q:]
            resid_BxQxD = base_BxQxD + out_BxQxD
            if post:
                resid_BxQxD = ln_attn(resid_BxQxD)
            resid_BxQxD = site(self, hooks, f"{block}_resid_mid", resid_BxQxD)
            mlp_out_BxQxD = FeedForward(cfg, name=f"{block}_mlp")(ln_mlp(resid_BxQxD) if pre else resid_BxQxD,
                                                                  scoped(hooks, f"{block}_mlp"))
            resid_BxLxD = resid_BxQxD + mlp_out_BxQxD
            if post:
                resid_BxLxD = ln_mlp(resid_BxLxD)
            resid_BxLxD = site(self, hooks, f"{block}_resid_post", resid_BxLxD)
        final_BxAxD = self.layer_norm("ln_final")(resid_BxLxD) if pre else resid_BxLxD
        w_U_DxC = self.param("W_U", initializer(cfg, "W_U", "unembedding", cfg.d_model, 1 / math.sqrt(self.n_vocab)),
                             (cfg.d_model, self.n_classes))
        n_b, n_a = final_BxAxD.shape[:2]
        return dense_product(final_BxAxD.reshape(n_b * n_a, cfg.d_model), w_U_DxC).reshape(n_b, n_a, -1)
