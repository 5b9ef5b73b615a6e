"""lab.tasks.modular: labels against a reference, splits, determinism, vmap, token sequences and the integer
task."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models, tasks
from lab.config import (
    MODULAR_OPS,
    ModelConfig,
    Spec,
    SpecError,
    SweepConfig,
    TaskConfig,
    TrainConfig,
)
from lab.sweeps.grid import expand
from lab.sweeps.spec import load_spec
from lab.tasks import (
    all_pairs,
    input_dtype,
    input_shape,
    make_data,
    make_modular,
    modular_size,
    n_train_max,
)
from tests.helpers import SWEEPS, check_data_dtypes, key_of


@pytest.fixture(autouse=True)
def _numpy_broadcasting():
    """The plain references broadcast as numpy does (the lab's own code runs under rank promotion 'raise')."""
    with jax.numpy_rank_promotion("allow"):
        yield


P = 7
REF = {
    "x+y": lambda a, b: (a + b) % P,
    "x-y": lambda a, b: (a - b) % P,
    "x*y": lambda a, b: (a * b) % P,
    "x/y": lambda a, b: next(c for c in range(P) if (c * b) % P == a),
    "x^2+y^2": lambda a, b: (a**2 + b**2) % P,
    "x^2+xy+y^2": lambda a, b: (a**2 + a * b + b**2) % P,
    "x^3+xy": lambda a, b: (a**3 + a * b) % P,
}


def _split_rows(d):
    """(train rows, test rows) as sets of tuples, counting only weight-1 rows."""
    tr = {tuple(r) for r, w in zip(np.asarray(d.x_train).tolist(), np.asarray(d.w_train)) if w == 1}
    te = {tuple(r) for r, w in zip(np.asarray(d.x_test).tolist(), np.asarray(d.w_test)) if w == 1}
    return tr, te


def test_grokfast_data_excludes_y_zero():
    spec = load_spec("sweeps/grokfast.toml")
    ab, _ = tasks.all_pairs(spec.task)
    assert len(ab) == 97 * 96 == spec.task.n_examples() and ab[:, 1].min() == 1  # main.py L73-87


@pytest.mark.parametrize("sequence,n_ctx", [("a_b_eq", 3), ("a_op_b_eq", 4), ("eos_a_op_b_eq_c", 6)])
def test_token_sequences(sequence, n_ctx):
    task = TaskConfig(p=7, sequence=sequence)
    ab, y = tasks.all_pairs(task)
    x = np.asarray(tasks.token_sequences(task, jnp.asarray(ab), jnp.asarray(y)))
    assert x.shape == (49, n_ctx) == (task.n_examples(), task.n_ctx) and x.max() < task.n_vocab
    if sequence == "eos_a_op_b_eq_c":
        assert list(x[10]) == [9, ab[10, 0], 8, ab[10, 1], 7, y[10]]
    Spec(task=task, model=ModelConfig(readout="vocab"), train=TrainConfig()).validate()


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("op", MODULAR_OPS)
def test_labels_match_reference(op, symmetric):
    cfg = TaskConfig(op=op, p=P, symmetric=symmetric)
    ab, y = all_pairs(cfg)
    want = [(a, b) for a in range(P) for b in range(P) if (not symmetric or a <= b) and not (op == "x/y" and b == 0)]
    assert ab.dtype == np.int32 and y.dtype == np.int32
    assert [tuple(r) for r in ab.tolist()] == want
    assert y.tolist() == [REF[op](a, b) for a, b in want]
    assert modular_size(cfg) == len(want)
    if op != "x/y":
        assert modular_size(cfg) == cfg.n_examples()


def test_large_p_no_overflow():
    cfg = TaskConfig(op="x^3+xy", p=1009)
    ab, y = all_pairs(cfg)
    a, b = ab[-1].astype(object)
    assert y[-1] == (a**3 + a * b) % 1009 and y.min() >= 0 and y.max() < 1009


@pytest.mark.parametrize("op,frac", [("x+y", 0.3), ("x/y", 0.5), ("x-y", 1.0)])
def test_split_disjoint_and_covering(op, frac):
    cfg = TaskConfig(op=op, p=P, train_frac=frac)
    n_all = modular_size(cfg)
    m = n_train_max(cfg, frac)
    d = make_modular(cfg, key_of(0), frac, m, False)
    assert d.x_train.shape == (m, 2) and d.x_test.shape == (n_all, 2)
    check_data_dtypes(d)
    assert int(d.w_train.sum()) == round(frac * n_all)
    tr, te = _split_rows(d)
    assert not tr & te
    assert len(tr) + len(te) == n_all and tr | te == {tuple(r) for r in all_pairs(cfg)[0].tolist()}
    # labels travel with their inputs
    lookup = {tuple(r): l for r, l in zip(all_pairs(cfg)[0].tolist(), all_pairs(cfg)[1].tolist())}
    assert all(lookup[tuple(r)] == l for r, l in zip(np.asarray(d.x_test).tolist(), np.asarray(d.y_test)))
    assert not np.asarray(d.t_train).any() and not np.asarray(d.t_test).any()


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.37, 0.5, 0.8])
def test_train_frac_row_count(frac):
    cfg = TaskConfig(p=11)
    d = make_modular(cfg, key_of(1), frac, n_train_max(cfg, 0.8), False)
    assert int(d.w_train.sum()) == round(frac * 121)
    assert int(d.w_test.sum()) == 121 - round(frac * 121)


def test_keys_determine_split():
    cfg = TaskConfig(p=P)
    m = n_train_max(cfg, 0.3)
    a, b, c = (make_modular(cfg, key_of(s), 0.3, m, False) for s in (0, 0, 1))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a.x_test, c.x_test)


def test_vmap_matches_unbatched():
    cfg = TaskConfig(p=P)
    fracs = jnp.array([0.2, 0.5, 0.9], jnp.float32)
    m = n_train_max(cfg, 0.9)
    keys = jax.vmap(key_of)(jnp.arange(3))
    f = jax.jit(jax.vmap(partial(make_data, cfg, n_train_max=m, as_tokens=True)))
    batched = f(keys, fracs)
    check_data_dtypes(batched)
    for i in range(3):
        single = make_data(cfg, keys[i], float(fracs[i]), m, True)
        for u, v in zip(batched, single):
            assert np.array_equal(u[i], v)
    assert batched.w_train.sum(axis=1).tolist() == [round(f * 49) for f in (0.2, 0.5, 0.9)]


def test_tokens_end_with_p():
    cfg = TaskConfig(op="x/y", p=P)
    d = make_data(cfg, key_of(0), 0.5, n_train_max(cfg, 0.5), True)
    assert d.x_train.shape[1:] == input_shape(cfg, True) == (3,)
    assert d.x_test.dtype == input_dtype(cfg) == jnp.int32
    assert (d.x_test[:, 2] == P).all() and (d.x_train[:, 2] == P).all()
    assert (d.x_test[:, :2] < P).all()


@pytest.mark.parametrize("op,result", [("x+y", lambda a, b: a + b), ("x-y", lambda a, b: a - b),
                                       ("x*y", lambda a, b: a * b)])
def test_integer_task_labels_are_the_results_themselves(op, result):
    cfg = TaskConfig(name="integer", op=op, p=12)
    ab, y = all_pairs(cfg)
    low, high = cfg.result_range()
    values = result(ab[:, 0].astype(np.int64), ab[:, 1].astype(np.int64))
    np.testing.assert_array_equal(y, values - low)  # class c is the result low + c, no reduction mod p
    assert values.min() == low and values.max() == high and cfg.n_classes == high - low + 1
    assert cfg.n_classes > cfg.p  # results beyond p are their own classes (e.g. 11 + 11 = 22)
    data = make_modular(cfg, jax.random.key(0), 0.5, n_train_max(cfg, 0.5), as_tokens=False)
    assert int(jnp.max(data.y_test)) < cfg.n_classes and input_dtype(cfg) == jnp.int32


def test_integer_task_trains_and_refuses_what_has_no_meaning():
    from lab import train
    from lab.config import ModelConfig, Spec, TrainConfig

    spec = Spec(task=TaskConfig(name="integer", op="x+y", p=10, train_frac=0.8),
                model=ModelConfig(kind="mlp", d_embed=16, width=64),
                train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=300, log_every=300))
    spec.validate()
    programs = train.build_programs(spec, n_train_max(spec.task, 0.8))
    hp = jax.tree.map(jnp.asarray, train.hparams_of(spec, [{}]))
    state, data = programs.init(hp), programs.data(hp)
    state, metrics = programs.chunk(state, data, hp)
    assert float(metrics["train_acc"][0]) > 0.95  # 80 sums of digits fit in 300 steps
    with pytest.raises(SpecError, match="task.op = 'x/y' is not allowed; choose one of x\\+y, x-y, x\\*y"):
        TaskConfig(name="integer", op="x/y").validate()
    with pytest.raises(SpecError, match="model.tie_embed needs task.name = 'modular'"):
        Spec(task=TaskConfig(name="integer", p=10), model=ModelConfig(kind="mlp", tie_embed=True)).validate()
    transformer = Spec(task=TaskConfig(name="integer", op="x*y", p=10), model=ModelConfig(kind="transformer"))
    transformer.validate()  # allowed: tokens [a, b, =], one logit per possible product

    params = models.init(jax.random.key(0), transformer.model, transformer.task)
    tokens = jnp.asarray([[3, 7, 10], [9, 9, 10]], jnp.int32)
    assert models.apply(params, tokens, transformer.model, transformer.task).shape == (2, 82)


def _split_file(tmp_path, rows, **more) -> str:
    path = tmp_path / "split.npz"
    np.savez(path, train_index=np.asarray(rows), **more)
    return str(path)


def test_split_from_trains_on_the_files_rows_in_its_order_and_tests_on_the_rest(tmp_path):
    rows = [40, 3, 77, 12, 0, 119, 58, 91, 25, 66, 101, 7, 33]  # 13 of the 121 pairs of p = 11
    cfg = TaskConfig(p=11, train_frac=13 / 121, split_from=_split_file(tmp_path, rows))
    m = n_train_max(cfg, cfg.train_frac)
    a, b = (make_modular(cfg, key_of(s), frac, m, True) for s, frac in ((0, 0.1), (1, 0.9)))
    assert m == 13 and all(np.array_equal(u, v) for u, v in zip(a, b))  # neither key nor train_frac is read
    ab, y = all_pairs(cfg)
    assert np.array_equal(np.asarray(a.x_train)[:, :2], ab[rows]) and np.array_equal(a.y_train, y[rows])
    assert int(a.w_train.sum()) == 13
    tested = {tuple(r) for r, w in zip(np.asarray(a.x_test)[:, :2].tolist(), np.asarray(a.w_test)) if w}
    assert tested == {tuple(r) for i, r in enumerate(ab.tolist()) if i not in rows}


def test_the_demos_split_is_the_one_its_notebook_printed():
    spec = load_spec(SWEEPS / "nanda_demo.toml")
    d = make_data(spec.task, key_of(0), spec.task.train_frac, n_train_max(spec.task, 0.3), True)
    # TransformerLens demos/Grokking_Demo.ipynb, In[13]: train_data[:5], train_labels[:5] and test_data[:5]
    assert np.asarray(d.x_train[:5]).tolist() == [[21, 31, 113], [30, 98, 113], [47, 10, 113], [86, 21, 113],
                                                 [99, 83, 113]]
    assert np.asarray(d.y_train[:5]).tolist() == [52, 15, 57, 107, 69]
    assert int(d.w_train.sum()) == 3830 and int(d.w_test.sum()) == 8939
    tested = {tuple(r) for r, w in zip(np.asarray(d.x_test)[:, :2].tolist(), np.asarray(d.w_test)) if w}
    assert {(43, 40), (31, 42), (39, 63), (35, 61), (112, 102)} <= tested


@pytest.mark.parametrize("rows,frac,message", [
    ([0, 1, 2], 0.5,
     "trains on 3 of 121 examples, but task.train_frac = 0.5 names 60.5; set task.train_frac = 0.0247934"),
    ([0, 1, 1], 3 / 121, "train_index names a row more than once"),
    ([0, 1, 121], 3 / 121, "train_index holds rows outside [0, 121), the 121 examples of this task"),
])
def test_a_bad_split_file_is_a_one_line_error(tmp_path, rows, frac, message):
    cfg = TaskConfig(p=11, train_frac=frac, split_from=_split_file(tmp_path, rows))
    with pytest.raises(SpecError) as err:
        n_train_max(cfg, frac)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_split_file_needs_train_index_and_a_split_name_must_exist(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, W_E=np.zeros(3))
    with pytest.raises(SpecError, match=r"needs one 1-D train_index .* its arrays: W_E"):
        n_train_max(TaskConfig(p=11, split_from=str(path)), 0.3)
    with pytest.raises(SpecError, match="task.split_from = 'no_such_split' is neither a reference"):
        n_train_max(TaskConfig(p=11, split_from="no_such_split"), 0.3)


def test_a_fixed_training_set_cannot_be_swept_over_train_fractions():
    spec = load_spec(SWEEPS / "nanda_demo.toml").replace("sweep.axes", (("task.train_frac", (0.3, 0.5)),))
    with pytest.raises(SpecError, match="trains on 3830 of 12769 examples, but task.train_frac = 0.5 names"):
        expand(spec)


def test_an_order_file_trains_on_the_first_train_frac_of_its_rows_at_every_fraction(tmp_path):
    order = np.random.default_rng(0).permutation(121)
    path = tmp_path / "order.npz"
    np.savez(path, order=order)
    cfg = TaskConfig(p=11, train_frac=0.5, split_from=str(path))
    m = n_train_max(cfg, 0.5)
    ab, _ = all_pairs(cfg)
    for frac, n in ((0.2, 24), (0.5, 60)):  # round(0.2 * 121) = 24, round(60.5) = 60 (half to even)
        d = make_modular(cfg, key_of(int(frac * 10)), frac, m, False)
        assert int(d.w_train.sum()) == n and m == 60
        assert np.array_equal(np.asarray(d.x_train)[:n], ab[order[:n]])  # nested: the first n of the order
        assert np.array_equal(np.asarray(d.x_test), ab[order])
    sweep = Spec(task=cfg, model=ModelConfig(kind="mlp", width=8), train=TrainConfig(steps=10, log_every=10),
                 sweep=SweepConfig(axes=(("task.train_frac", (0.2, 0.5)),)))
    assert [g.size for g in expand(sweep)] == [2]


@pytest.mark.parametrize("arrays,message", [
    (dict(order=np.arange(120)), "order holds 120 rows; it must hold every one of the task's 121"),
    (dict(order=np.r_[np.arange(120), 0]), "order names a row more than once"),
    (dict(order=np.arange(121), train_index=np.arange(30)), "needs one 1-D train_index"),
])
def test_a_bad_order_file_is_a_one_line_error(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SpecError) as err:
        n_train_max(TaskConfig(p=11, split_from=str(tmp_path / "bad.npz")), 0.3)
    assert message in str(err.value) and "\n" not in str(err.value)
