"""lab.models.sites: every activation site can be read, replaced and patched, in every layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models
from lab.config import ModelConfig, SpecError, TaskConfig
from lab.models import Replace

TASK = TaskConfig(p=11)
PARITY = TaskConfig(name="parity", n_bits=12, k=3)
MODELS = {
    "mlp": (ModelConfig(kind="mlp", d_embed=6, width=10, depth=3), TASK),
    "mlp_sum_tied": (ModelConfig(kind="mlp", d_embed=6, width=10, combine="sum", tie_embed=True, bias=False), TASK),
    "mlp_parity": (ModelConfig(kind="mlp", width=10, depth=2), PARITY),
    "transformer_pre_ln": (ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, layer_norm=True), TASK),
    "transformer_ln_residual": (ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, layer_norm=True,
                                            block="ln_residual"), TASK),
    "transformer_post_ln": (ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, layer_norm=True,
                                        block="post_ln"), TASK),
}


def _inputs(cfg: ModelConfig, task: TaskConfig, n: int = 9) -> jax.Array:
    if task.name == "parity":
        bits = jax.random.bernoulli(jax.random.key(3), 0.5, (n, task.n_bits)).astype(jnp.float32)
        return 2 * bits - 1
    ab = jax.random.randint(jax.random.key(3), (n, 2), 0, task.p)
    return jnp.concatenate([ab, jnp.full((n, 1), task.p)], axis=1) if models.as_tokens(cfg) else ab


def _setup(name):
    cfg, task = MODELS[name]
    return cfg, task, models.init(jax.random.key(0), cfg, task), _inputs(cfg, task)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_cache_holds_every_registered_site(name):
    cfg, task, params, x = _setup(name)
    logits, cache = models.run_with_cache(params, x, cfg, task)
    assert list(cache) == models.sites(cfg, task)
    np.testing.assert_array_equal(logits, models.apply(params, x, cfg, task))
    assert cache["mlp_post", -1] is cache[models.site_name(cfg, "mlp_post")]
    _, some = models.run_with_cache(params, x, cfg, task, names=["mlp_post"])
    assert list(some) == [models.site_name(cfg, "mlp_post", layer) for layer in range(models.n_layers(cfg))]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_patching_every_site_with_its_own_clean_activation_changes_nothing(name):
    cfg, task, params, x = _setup(name)
    logits, cache = models.run_with_cache(params, x, cfg, task)
    hooks = {site: Replace(jnp.ones((), bool), act) for site, act in cache.items()}
    patched, patched_cache = models.run_with_cache(params, x, cfg, task, hooks=hooks)
    # a hook on the embedding makes the first block run per example, not per table row: the same sums in
    # another order
    np.testing.assert_allclose(patched, logits, rtol=1e-5, atol=1e-6)
    for site in cache:
        np.testing.assert_allclose(patched_cache[site], cache[site], rtol=1e-5, atol=1e-6, err_msg=site)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_hook_changes_what_its_site_feeds_and_nothing_upstream(name):
    cfg, task, params, x = _setup(name)
    logits, cache = models.run_with_cache(params, x, cfg, task)
    order = models.sites(cfg, task)
    for i, site in enumerate(order):
        noise = jax.random.normal(jax.random.key(i), cache[site].shape)
        hooked_logits, hooked = models.run_with_cache(params, x, cfg, task, hooks={site: lambda a, e=noise: a + e})
        np.testing.assert_allclose(hooked[site], cache[site] + noise, rtol=1e-6, atol=1e-6, err_msg=site)
        for before in order[:i]:
            if not (site == "embed_b" and before == "embed_a"):
                np.testing.assert_array_equal(hooked[before], cache[before], err_msg=f"{site} changed {before}")
        assert not np.allclose(hooked_logits, logits, atol=1e-4), f"a hook on {site} did not reach the logits"
        if site == "embed_a":
            np.testing.assert_array_equal(hooked["embed_b"], cache["embed_b"])


def test_a_hook_in_any_layer_reaches_only_that_layer():
    cfg, task, params, x = _setup("transformer_pre_ln")
    _, cache = models.run_with_cache(params, x, cfg, task)
    zero_first = {models.site_name(cfg, "mlp_post", 0): Replace(jnp.ones((), bool), 0.0)}
    _, hooked = models.run_with_cache(params, x, cfg, task, hooks=zero_first)
    assert float(jnp.abs(hooked["mlp_post", 0]).max()) == 0.0
    np.testing.assert_array_equal(hooked["resid_mid", 0], cache["resid_mid", 0])
    assert not np.allclose(hooked["resid_post", 0], cache["resid_post", 0])
    assert not np.allclose(hooked["mlp_post", 1], cache["mlp_post", 1])


def test_replace_hooks_vmap_over_masks_and_models():
    cfg, task, params, x = _setup("mlp")
    site = models.site_name(cfg, "mlp_post", 1)
    masks_KxF = jnp.eye(cfg.width, dtype=bool)[:4]

    def ablated(p, mask_F):
        return models.apply(p, x, cfg, task, {site: Replace(mask_F, jnp.zeros(cfg.width))})

    stacked = jax.vmap(ablated, in_axes=(None, 0))(params, masks_KxF)
    for k in range(4):
        np.testing.assert_allclose(stacked[k], ablated(params, masks_KxF[k]), rtol=1e-6, atol=1e-6)
    params_M = jax.vmap(lambda key: models.init(key, cfg, task))(jax.random.split(jax.random.key(1), 3))
    per_model = jax.vmap(ablated, in_axes=(0, None))(params_M, masks_KxF[0])
    one = jax.tree.map(lambda w: w[2], params_M)
    np.testing.assert_allclose(per_model[2], ablated(one, masks_KxF[0]), rtol=1e-6, atol=1e-6)


def test_patching_from_another_input_moves_the_output_to_that_input():
    cfg, task, params, x = _setup("transformer_pre_ln")
    other = jnp.roll(x, 1, axis=0)
    other_logits, other_cache = models.run_with_cache(params, other, cfg, task)
    last = models.site_name(cfg, "resid_post")
    patched = models.apply(params, x, cfg, task, {last: Replace(jnp.ones((), bool), other_cache[last])})
    np.testing.assert_allclose(patched, other_logits, rtol=1e-5, atol=1e-5)


def test_unknown_sites_and_kinds_are_refused_with_the_list():
    cfg, task, params, x = _setup("mlp")
    with pytest.raises(SpecError, match="no site 'block_0_mlp/mlp_post'.*mlp_post_0"):
        models.apply(params, x, cfg, task, {"block_0_mlp/mlp_post": lambda a: a})
    with pytest.raises(SpecError, match="has no 'attn_pattern'"):
        models.site_name(cfg, "attn_pattern", 0)
    with pytest.raises(SpecError, match="out of range"):
        models.site_name(cfg, "mlp_post", 3)


def test_zero_mean_and_patch_hooks_do_what_they_say_in_an_earlier_block():
    cfg, task, params, x = _setup("transformer_post_ln")
    _, cache = models.run_with_cache(params, x, cfg, task)
    site = models.site_name(cfg, "z", 0)  # head outputs of the first block, every position: [B, Q, H, E]
    heads_Hx1 = jnp.array([True, False])[:, None]
    _, zeroed = models.run_with_cache(params, x, cfg, task, hooks={site: models.zero_ablate(heads_Hx1)})
    assert float(jnp.abs(zeroed[site][:, :, 0]).max()) == 0.0
    np.testing.assert_array_equal(zeroed[site][:, :, 1], cache[site][:, :, 1])
    _, meaned = models.run_with_cache(params, x, cfg, task, hooks={site: models.mean_ablate(cache[site], heads_Hx1)})
    np.testing.assert_allclose(meaned[site][:, :, 0], jnp.broadcast_to(cache[site][:, :, 0].mean(0), meaned[site][:, :, 0].shape),
                               rtol=1e-6, atol=1e-6)
    other = jnp.roll(x, 2, axis=0)
    other_logits, other_cache = models.run_with_cache(params, other, cfg, task)
    patched = models.apply(params, x, cfg, task, {"embed": models.patch(other_cache["embed"])})
    np.testing.assert_allclose(patched, other_logits, rtol=1e-5, atol=1e-5)  # the whole input patched in
