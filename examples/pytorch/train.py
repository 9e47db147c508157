"""A small PyTorch MLP on synthetic data; uses the GPU the sweep gives it (CUDA_VISIBLE_DEVICES).

Needs `pip install torch`. Each epoch reports val_loss, so early stopping works; checkpoints go
to `sweeper.checkpoint_dir()`, so a retried trial continues.
"""

from __future__ import annotations

import os
import time
from typing import Any

import sweeper


def train(cfg: Any) -> dict[str, float]:
    import torch
    from torch import nn

    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20000, 64, generator=g)
    w = torch.randn(64, 1, generator=g)
    y = (X @ w).tanh() + 0.1 * torch.randn(20000, 1, generator=g)
    X_train, y_train, X_val, y_val = X[:16000].to(device), y[:16000].to(device), X[16000:].to(device), y[16000:].to(device)

    model = nn.Sequential(nn.Linear(64, int(cfg.width)), nn.ReLU(), nn.Linear(int(cfg.width), int(cfg.width)),
                          nn.ReLU(), nn.Linear(int(cfg.width), 1)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg.lr), weight_decay=float(cfg.weight_decay))
    ckpt = os.path.join(sweeper.checkpoint_dir(), "model.pt")
    start = 0
    if os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"]
    loss_fn = nn.MSELoss()
    t0 = time.perf_counter()
    val = float("nan")
    for epoch in range(start, int(cfg.epochs)):
        model.train()
        perm = torch.randperm(len(X_train), device=device)
        for i in range(0, len(perm), int(cfg.batch_size)):
            idx = perm[i:i + int(cfg.batch_size)]
            opt.zero_grad()
            loss_fn(model(X_train[idx]), y_train[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = float(loss_fn(model(X_val), y_val))
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1}, ckpt)
        sweeper.report(step=epoch, val_loss=val)
    return {"val_loss": val, "seconds": time.perf_counter() - t0, "on_gpu": float(device == "cuda")}
