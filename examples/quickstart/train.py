"""A small real model: an MLP on scikit-learn's bundled digits, trained epoch by epoch.

Each epoch reports `val_loss`, so early stopping has something to cut, and saves a checkpoint in
`sweeper.checkpoint_dir()`, so a retried trial continues where it stopped instead of restarting.
Runs on its own too: `python train.py` trains once with the defaults below.
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import sweeper


def train(cfg: Any) -> dict[str, float]:
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    classes = np.unique(y)

    ckpt = os.path.join(sweeper.checkpoint_dir(), "model.pkl")
    start = 0
    if os.path.exists(ckpt):  # a retry: continue from the last finished epoch
        with open(ckpt, "rb") as f:
            model, start = pickle.load(f)
    else:
        model = MLPClassifier(hidden_layer_sizes=(int(cfg.hidden),), learning_rate_init=float(cfg.lr),
                              alpha=float(cfg.alpha), batch_size=int(cfg.batch_size), random_state=0)
    rng = np.random.default_rng(0)
    val_loss = val_acc = float("nan")
    for epoch in range(start, int(cfg.epochs)):
        order = rng.permutation(len(X_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X_train[order], y_train[order], classes=classes)  # one epoch of minibatches
        proba = model.predict_proba(X_val)
        val_loss = float(log_loss(y_val, proba, labels=classes))
        val_acc = float(accuracy_score(y_val, proba.argmax(axis=1)))
        with open(ckpt + ".tmp", "wb") as f:
            pickle.dump((model, epoch + 1), f)
        os.replace(ckpt + ".tmp", ckpt)
        sweeper.report(step=epoch, val_loss=val_loss, val_acc=val_acc)
    return {"val_loss": val_loss, "val_acc": val_acc}


if __name__ == "__main__":
    from omegaconf import OmegaConf

    print(train(OmegaConf.create({"hidden": 64, "lr": 1e-3, "alpha": 1e-4, "batch_size": 64, "epochs": 10})))
