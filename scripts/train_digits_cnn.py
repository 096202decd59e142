"""Train the zoo's digits_cnn on scikit-learn's digits and write its weights
(src/mlxa/models/digits_cnn.npz). Deterministic: fixed seeds, one thread, deterministic torch
algorithms, full-batch order from a seeded permutation; rerunning writes the same numbers on the
same torch build.

    .venv/bin/python scripts/train_digits_cnn.py [--epochs 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import torch

from mlxa.models.digits_cnn import WEIGHTS, digits_split


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc = torch.nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        return self.fc(torch.flatten(torch.relu(self.conv2(y)), 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, y_train, x_test, y_test = digits_split()
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    order = np.random.default_rng(0)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(args.epochs):
        perm = torch.from_numpy(order.permutation(len(xt)))
        for start in range(0, len(xt), 64):
            idx = perm[start:start + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        test_top1 = (net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    np.savez(args.out, **weights)
    print(f"digits_cnn: {args.epochs} epochs, held-out top-1 {100 * test_top1:.2f}% "
          f"({len(y_test)} images) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
