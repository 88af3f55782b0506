"""Start-up benchmark app: import numpy, solve a 3x3 system, exit 0 (1 if the answer is wrong)."""


def main() -> int:
    import numpy as np

    a = np.arange(9, dtype=float).reshape(3, 3) + np.eye(3)
    x = np.linalg.solve(a, np.ones(3))
    return 0 if np.allclose(a @ x, np.ones(3)) else 1
