"""Write openai/grok's split of x/y mod 97 into lab/references/ (run once; the .npz is committed).

    python -m lab.references.extract_power_grok

openai/grok @ 3d64b1d, grok/data.py, builds its equations in one order and shuffles them once, the same list for
every seed and every train fraction:
- `_make_binary_operation_data("/")` (L200-255): for a, b in product(range(97), repeat=2), b != 0: c = a,
  a = b * c % 97, the equation "a / b = c". So in c-major order, with b from 1 to 96: operands (b * c % 97, b).
- `make_data` (L336-347): np.random.RandomState(seed=0).shuffle of that list.
- `splits` (L139-171): the first round(9312 * pct / 100) train, the rest validate.
`order` holds the lab's row of each shuffled equation (`lab.tasks.all_pairs` for x/y: x-major, y from 1:
row x * 96 + y - 1), so task.train_frac takes the first round(train_frac * N) as the repository does.
"""

from __future__ import annotations

import numpy as np

from lab.references import write_arrays

P, SEED = 97, 0


def repository_order() -> np.ndarray:
    """Every x/y mod 97 equation's lab row [9312], in the order of the repository's shuffled list."""
    rows = [(b * c % P) * (P - 1) + b - 1 for c in range(P) for b in range(1, P)]
    np.random.RandomState(seed=SEED).shuffle(rows)
    return np.asarray(rows, np.int32)


def main() -> None:
    """Write lab/references/power_grok_split.npz."""
    write_arrays("power_grok_split", {"order": repository_order()})


if __name__ == "__main__":
    main()
