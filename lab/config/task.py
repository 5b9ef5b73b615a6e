"""The task section: modular and integer arithmetic, sparse parity, multitask parity, skill composition."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.config.choices import (
    BIT_CODES, COMPOSE_RULES, INTEGER_OPS, MODULAR_OPS, SEQUENCES, TABLE_TASKS, TASKS, _check,
    _choice, _is_prime,
)


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
    # table tasks: the split from a file of rows of the example table (`lab.tasks.all_pairs`' order): its
    # `train_index` (the training rows; the rest are the test set) or its `order` (every row, as a peer's shuffled
    # table; the first round(train_frac * N) train, so train_frac may be swept). A lab.references name
    # (nanda_demo_start, power_grok_split) or an .npz path; "" draws the split from task.data_seed
    split_from: str = ""
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
        _check(isinstance(self.split_from, str),
               f"task.split_from must be a reference name or a path (got {self.split_from!r})")
        _check(not self.split_from or self.name in TABLE_TASKS,
               f"task.split_from fixes the training rows of a table task; task.name = {self.name!r} draws its examples")
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
