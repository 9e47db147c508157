"""Trial functions the tests sweep over (imported by worker processes, never by the driver)."""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import time

import sweeper


def quadratic(cfg):
    print(f"training x={cfg.x}")
    print("a warning on stderr", file=sys.stderr)
    return {"loss": (float(cfg.x) - 1.5) ** 2 + abs(int(cfg.y)), "aux": float(cfg.x) * 2}


def quadratic_seeing_imports(cfg):
    """`quadratic`, and whether this trial's worker had imported MLflow before it (it should not
    have: the writer creates the trial's run, the worker only hands its id on)."""
    return {**quadratic(cfg), "worker_had_mlflow": float("mlflow" in sys.modules)}


def plain_float(cfg):
    return (float(cfg.x) - 1.0) ** 2


def curves(cfg):
    """Learning curves fixed by x: final (x-2)^2, approached as 3/(step+1)."""
    x = float(cfg.x)
    loss = None
    for step in range(int(cfg.get("max_steps", 9))):
        loss = (x - 2.0) ** 2 + 3.0 / (step + 1)
        sweeper.report(step=step, loss=loss, lr_seen=x)
    return {"loss": loss}


def faulty(cfg):
    """Each `mode` fails its own way; x keeps the trial otherwise ordinary."""
    mode = str(cfg.mode)
    if mode == "ok":
        return {"loss": float(cfg.x)}
    if mode == "raise":
        raise ValueError("bad hyperparameters: x is cursed")
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "exit":
        os._exit(3)
    if mode == "oom":  # what the kernel's OOM killer does to a process
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang":
        time.sleep(600)
    if mode == "nometric":
        return {"accuracy": 0.5}
    if mode == "isnan":
        return {"loss": math.nan}
    raise AssertionError(mode)


def slow(cfg):
    for step in range(40):
        time.sleep(0.1)
        sweeper.report(step=step, loss=float(cfg.x) + 1.0 / (step + 1))
    return {"loss": float(cfg.x)}


def with_config(cfg):
    """Reads nested keys of a base training config that the params override."""
    return {"loss": float(cfg.optim.lr) * int(cfg.model.layers) + (0.0 if cfg.data.name == "digits" else 1.0)}


def trivial(cfg):
    return {"loss": float(cfg.x) ** 2}


def three_reports(cfg):
    """Three reports and the result, with no wait: a fast sweep's trial, the writer far behind."""
    for step in range(3):
        sweeper.report(step=step, loss=float(cfg.x) + step)
    return {"loss": float(cfg.x) + 2}


def slowish(cfg):
    for step in range(3):
        time.sleep(0.1)
        sweeper.report(step=step, loss=(float(cfg.x) - 3.0) ** 2 + 1.0 / (step + 1))
    return {"loss": (float(cfg.x) - 3.0) ** 2}


def checkpointed(cfg):
    """10 steps; the checkpoint records the next step, so a retry continues instead of restarting."""
    path = os.path.join(sweeper.checkpoint_dir(), "step")
    start = int(open(path).read()) if os.path.exists(path) else 0
    for step in range(start, 10):
        time.sleep(0.05)
        sweeper.report(step=step, loss=float(cfg.x) + 1.0 / (step + 1))
        with open(path, "w") as f:
            f.write(str(step + 1))
        if step == 4 and not os.path.exists("worker.pid"):
            with open("worker.pid.tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace("worker.pid.tmp", "worker.pid")
            time.sleep(30)  # killed here by the test
    return {"loss": float(cfg.x)}


def gpu_probe(cfg):
    """Records which devices it was given and when it held them. With `hold: N`, trials 0..N-1 each
    wait (a handshake through files, up to 60 s) until all N have started, so that N slots are seen
    in use at once however slowly the workers start on a loaded machine."""
    start = time.time()
    number, hold = sweeper.trial_number(), int(cfg.get("hold", 0))
    open(f"started-{number}", "w").close()
    deadline = time.time() + 60
    while number < hold and time.time() < deadline and not all(os.path.exists(f"started-{n}") for n in range(hold)):
        time.sleep(0.02)
    time.sleep(0.4)
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    with open(f"gpu-{sweeper.trial_number()}.txt", "w") as f:
        f.write(f"{devices} {start} {time.time()}\n")
    return {"loss": float(cfg.x), "n_devices": float(len(devices.split(",")) if devices else 0)}


def ray_curves(cfg):
    """`curves`, plus where it ran: the devices it was given; it logs to MLflow itself first."""
    import mlflow

    with mlflow.start_run():  # the trial's own run, opened by its Ray actor
        mlflow.log_metric("own_metric", float(cfg.x))
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    out = curves(cfg)
    return {**out, "gpu_seen": float(len(devices.split(",")) if devices else 0)}


def node_log(cfg):
    """Prints a line and leaves a checkpoint: what a two-node sweep must bring home or share."""
    print(f"trial {sweeper.trial_number()} says x={float(cfg.x):.3f}", flush=True)
    with open(os.path.join(sweeper.checkpoint_dir(), "marker"), "w") as f:
        f.write(os.environ.get("RAY_NODE_ID", "") or str(os.getpid()))
    time.sleep(0.3)
    return {"loss": float(cfg.x) ** 2}


def prunes(cfg):
    """Reports steps 0 and 1, then ends as `how` says: Optuna's TrialPruned, sweeper's, or a result."""
    x = float(cfg.x)
    for step in range(2):
        sweeper.report(step=step, loss=x + step)
    if cfg.how == "optuna":
        import optuna

        raise optuna.TrialPruned("the trial stops itself, the Optuna way")
    if cfg.how == "sweeper":
        raise sweeper.TrialPruned("the trial stops itself, the sweeper way")
    return {"loss": x}


def logs_itself(cfg):
    """Logs to MLflow itself, as MLflow's tutorials teach: its own start_run, metrics and an artifact."""
    import mlflow

    x = float(cfg.x)
    with mlflow.start_run() as run:
        # the run shows the trial's params while the trial runs, not only once it is over
        mlflow.log_metric("params_while_running", float(float(run.data.params.get("x", "nan")) == x))
        for step in range(3):
            mlflow.log_metric("own_metric", x + step, step=step)
        mlflow.log_text(f"x={x}\n", "own.txt")
    return {"loss": (x - 1.0) ** 2}


def leaves_run_open(cfg):
    """Starts a run and never ends it: the next trial of this worker must still get a run of its own."""
    import mlflow

    mlflow.start_run()
    mlflow.log_metric("own_metric", float(cfg.x))
    return {"loss": float(cfg.x) ** 2}


def logs_a_model(cfg):
    """Logs a pyfunc model in its run (what `sweep best --register` registers)."""
    import mlflow
    import mlflow.pyfunc

    class Const(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [0.0] * len(model_input)

    x = float(cfg.x)
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=Const())
    return {"loss": (x - 1.0) ** 2}


def stepped(cfg):
    """Ten reported steps (epochs) of a curve that ends at (x - 1)^2."""
    for step in range(10):
        time.sleep(0.02)
        sweeper.report(step=step, loss=(float(cfg.x) - 1.0) ** 2 + 1.0 / (step + 1))
    return {"loss": (float(cfg.x) - 1.0) ** 2}


def joined_stepped(cfg):
    """`stepped`, held like `joined`: trials after the first wait for `go`, which the test gives once
    a worker of the second agent is inside a trial, so both agents spend the one budget."""
    if sweeper.trial_number() > 0:
        open(f"in.{os.getpid()}", "w").close()
        while not os.path.exists("go"):
            time.sleep(0.05)
    return stepped(cfg)


def half_second(cfg):
    time.sleep(0.5)
    return {"loss": float(cfg.x) ** 2}


def second_long(cfg):
    """Five reports 0.2 s apart: a trial long enough to be hit mid-run (the chaos test)."""
    for step in range(5):
        time.sleep(0.2)
        sweeper.report(step=step, loss=float(cfg.x) + 1.0 / (step + 1))
    return {"loss": float(cfg.x)}


def joined(cfg):
    """Like slowish, but every trial after the first marks its worker (`in.<pid>`) and waits for the
    file `go`: the test lets them on once a worker of the second agent is inside a trial."""
    if sweeper.trial_number() > 0:
        open(f"in.{os.getpid()}", "w").close()
        while not os.path.exists("go"):
            time.sleep(0.05)
    return slowish(cfg)


def gated(cfg):
    """Trials 0-3 run at once; 4 and 5 wait for the file `down` (the test stopped MLflow), later
    ones for `back` (MLflow answers again): a handshake with the test, not a race against sleeps."""
    number = sweeper.trial_number()
    gate = None if number < 4 else "down" if number < 6 else "back"
    while gate is not None and not os.path.exists(gate):
        time.sleep(0.05)
    for step in range(3):
        sweeper.report(step=step, loss=float(cfg.x) + 1.0 / (step + 1))
    return {"loss": float(cfg.x)}


def binh_korn(cfg):
    """Binh and Korn's two-objective problem: a known convex front, for x in [0, 5], y in [0, 3]."""
    x, y = float(cfg.x), float(cfg.y)
    return {"f1": 4 * x * x + 4 * y * y, "f2": (x - 5) ** 2 + (y - 5) ** 2}


def xzw(cfg):
    """The config the trial got: its x, its define-by-run z and w, and a loss over them."""
    return {"loss": cfg.x ** 2 + cfg.z ** 2 + cfg.w ** 2, "zmax": cfg.zmax}


def conditional(cfg):
    """Asserts it got only the params its conditions allow (as a YAML sweep declares them)."""
    assert ("momentum" in cfg) == (cfg.optimizer == "sgd"), dict(cfg)
    assert ("beta2" in cfg) == (cfg.optimizer == "adam"), dict(cfg)
    assert ("depth" in cfg.net) == (cfg.arch == "resnet") and ("patch" in cfg.net) == (cfg.arch == "vit"), dict(cfg)
    loss = float(cfg.get("momentum", 0.0)) + float(cfg.get("beta2", 0.0)) + float(cfg.net.get("depth", 0)) / 100
    return {"loss": loss}
