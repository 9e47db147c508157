"""The sweep file's schema, declared once: every key, its type, default, bounds and meaning.

Defaults, validation, the config-group options Hydra composes (`early_stop=hyperband`,
`backend=ray`), the sections the loader accepts and the README's key table all follow from `KEYS`
and `GROUP_OPTIONS`; nothing else lists keys. `markdown_table()` writes the table the README carries (a test keeps the two
equal). Search methods' own options are Optuna's sampler arguments: their presets
live in `conf/search/`, and a sampler's signature is what validates them (see `search`).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError


@dataclass(frozen=True)
class Key:
    """One key of the sweep file. `kind`: int, number, str, choice, mapping, any (size: `SizeKey`, duration: `DurationKey`)."""

    path: str
    kind: str
    default: Any = None
    doc: str = ""
    low: float | None = None  # int: >= low; number: > low (or >= low when `inclusive`)
    high: int | None = None  # int: <= high (every int: <= INT_MAX, what SQL and JSON readers hold)
    inclusive: bool = False
    nullable: bool = True
    choices: tuple[str, ...] = ()
    keep_int: bool = False  # a number key whose int stays an int (Optuna's pruners index by `eta`)
    composed: bool = True  # part of its group option's composed node (False: only when the file gives it)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def allowed(self) -> str:
        """What the key accepts, in the words of an error message and of the README."""
        if self.kind == "int":
            high = self.high if self.high is not None else INT_MAX
            text = (f"an integer from {self.low:g} to {high}" if self.high is not None and self.low is not None
                    else f"an integer >= {self.low:g}" if self.low is not None else "an integer")
        elif self.kind == "number":
            text = "a finite number" + (f" {'>=' if self.inclusive else '>'} {self.low:g}" if self.low is not None else "")
        elif self.kind == "str":
            text = "a non-empty string"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "mapping":
            text = "a mapping"
        else:
            text = "any value"
        return text + (" or null" if self.nullable and self.kind in ("int", "number", "str") else "")

    def check(self, source: str, value: Any) -> Any:
        """The value, validated; SpecError names the source, the key and what is allowed."""
        if value is None:
            if self.nullable:
                return None
            if self.default is not None:  # `key: null` means its default
                return self.default
            raise SpecError(source, self.path, f"missing: must be {self.allowed()}")
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or (self.low is not None and value < self.low):
                raise SpecError(source, self.path, f"must be {self.allowed()}, got {value!r}")
            high = self.high if self.high is not None else INT_MAX
            if value > high:
                limit = "" if self.high is not None else f" (at most {high})"
                raise SpecError(source, self.path, f"must be {self.allowed()}, got {value}{limit}")
            return value
        if self.kind == "number":
            # finite: NaN compares false with everything, and an infinite bound means no bound (null)
            ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            if ok and self.low is not None:
                ok = value >= self.low if self.inclusive else value > self.low
            if not ok:
                raise SpecError(source, self.path, f"must be {self.allowed()}, got {value!r}")
            return value if self.keep_int and isinstance(value, int) else float(value)
        if self.kind == "str":
            if not isinstance(value, str) or not value.strip():
                raise SpecError(source, self.path, f"must be {self.allowed()}, got {value!r}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise SpecError(source, self.path, f"{value!r} is not allowed (allowed: {', '.join(self.choices)})")
            return value
        if self.kind == "mapping" and not isinstance(value, dict):
            raise SpecError(source, self.path, f"must be a mapping, got {value!r}")
        return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|b|bytes?)?\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int | None:
    """A size in bytes: an integer, or a string like `10MB`, `512KB`, `1.5GB`, `100` (KB, MB, GB are
    1024-based; `MiB` and `M` mean the same). 0 is None: no limit. ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value or None
    m = _SIZE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(value)
    n = int(float(m.group(1)) * 1024 ** " kmg".index((m.group(2) or " ").lower()))
    return n or None


class ParsedKey(Key):
    """A key whose value a parser turns into a number (`parse` raises ValueError when it cannot);
    null stays null. Subclasses name the parser and say what it allows."""

    @staticmethod
    def parse(value: Any) -> Any:
        raise NotImplementedError

    def check(self, source: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.parse(value)
        except ValueError:
            raise SpecError(source, self.path, f"must be {self.allowed()}, got {value!r}") from None


class SizeKey(ParsedKey):
    """A key holding a size in bytes (`parse_size`); it checks to an int, or None for no limit."""

    parse = staticmethod(parse_size)

    def allowed(self) -> str:
        return "bytes, or a string like `10MB`, `512KB`, `1GB`; 0 or null: no limit"


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a string like `90m`, `8h`, `1h30m`, `45s`, `2d`.
    ValueError for anything else (`90 minutes`, a negative, zero)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(value) if isinstance(value, str) else None
        if m is None or not any(m.groups()):
            raise ValueError(value)
        seconds = sum(float(g) * unit for g, unit in zip(m.groups(), (86400, 3600, 60, 1), strict=True) if g)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(value)
    return seconds


class DurationKey(ParsedKey):
    """A key holding a length of time (`parse_duration`); it checks to seconds, a float."""

    parse = staticmethod(parse_duration)

    def allowed(self) -> str:
        return "a duration like `90m`, `8h`, `1h30m`, `45s`, `2d`, or seconds > 0, or null"


GOALS = ("minimize", "maximize")
#: the largest integer any key takes: a 64-bit signed integer, what SQL storages and JSON readers hold
INT_MAX = 2**63 - 1

#: every key of the sweep file outside the config groups' own options, in README order
KEYS: tuple[Key, ...] = (
    Key("name", "str", nullable=False, doc="names the study, the MLflow experiment and `.sweeps/NAME`; "
        "letters, digits, `.`, `_`, `-`"),
    Key("objective", "mapping", nullable=False, doc="the metric to optimise; a list of such mappings for "
        "several objectives (the Pareto front is the result)"),
    Key("objective.metric", "str", nullable=False, doc="a metric the trial returns or reports"),
    Key("objective.goal", "choice", "minimize", choices=GOALS, nullable=False, doc="direction"),
    Key("params", "mapping", nullable=False, doc="the search space: name → expression, W&B mapping or constant"),
    Key("trial", "mapping", nullable=False, doc="what one trial runs: exactly one of `function`, `command`"),
    Key("trial.function", "str", doc="`module:callable`, called with the trial's config; imported from the "
        "working directory"),
    Key("trial.command", "str", doc="a command line; params are appended as `key=value` or replace `${args}`"),
    Key("trial.config", "str", doc="a base training config (YAML, relative to the sweep file) the params "
        "override"),
    Key("trial.hydra", "str", doc="set by the Hydra Sweeper plugin: trials are jobs of this Hydra app, composed "
        "and run as Hydra runs them (`trial.function` is its task function); resumed by rerunning the app"),
    Key("trial.timeout", "number", low=0, doc="seconds before a trial is killed and recorded as failed"),
    Key("trial.retries", "int", 0, low=0, nullable=False, doc="re-runs of a trial that crashed by itself"),
    SizeKey("trial.log_limit", "size", "10MB", doc="the most kept of each of a trial's stdout.txt and "
            "stderr.txt: the first and last halves, with a note of what was cut between (KB, MB, GB: 1024-based)"),
    Key("n_trials", "int", low=1, doc="trials to finish (complete, pruned or failed); grid: the grid size"),
    Key("workers", "int", low=1, high=10_000, doc="trials at once; null: as many as `resources` allow"),
    Key("max_failures", "int", 10, low=0, nullable=False, doc="failed trials tolerated before the sweep stops"),
    Key("constraints", "any", doc="`[\"memory_mb <= 2000\", ...]`: metrics the trial reports, each bounded "
        "(<=, <, >=, >); an infeasible trial is never the best nor on the front"),
    Key("seed_trials", "any", doc="`[{lr: 0.01, depth: 4}, ...]`: configurations run first (params left out "
        "are sampled); they count toward `n_trials`"),
    Key("warm_start", "mapping", doc="start informed by an earlier sweep's finished trials"),
    Key("warm_start.from", "str", doc="that sweep's name; its complete trials whose params fit this space join "
        "the study's history (not run again, not counted toward `n_trials`)"),
    Key("warm_start.storage", "str", doc="its storage's URL; null: this sweep's"),
    Key("budget", "mapping", doc="limits beyond `n_trials`: the sweep ends at the first one reached"),
    Key("budget.steps", "int", low=1, doc="steps (epochs) reported by all trials together; running trials "
        "stop at their next report once it is spent"),
    DurationKey("budget.time", "duration", doc="wall time of the sweep, over all its launches and agents "
                "(`90m`, `8h`, `1h30m`)"),
    Key("budget.target", "number", doc="stop once a finished trial's objective is this good or better"),
    Key("seed", "int", low=0, high=2**32 - 1, doc="seeds the sampler (NumPy takes 32 bits)"),
    Key("storage", "str", doc="SQLAlchemy URL of the study; null: `sqlite:///.sweeps/sweeps.db`"),
    Key("tracking", "mapping", doc="where runs are tracked"),
    Key("tracking.uri", "str", doc="MLflow tracking URI; null: `MLFLOW_TRACKING_URI`, else "
        "`sqlite:///mlflow.db`"),
    Key("tracking.experiment", "str", doc="MLflow experiment; null: the sweep's name"),
    Key("search", "mapping", doc="`search=NAME` picks a preset of `conf/search/`; other keys are the "
        "Optuna sampler's arguments"),
    Key("search.method", "str", "tpe", nullable=False, doc="a registered search method"),
    Key("search.configure", "str", doc="`module:function` called as `function(cfg, trial)` with the trials' "
        "base config and the Optuna trial once the declared params are drawn: it may `trial.suggest_*` more "
        "(define-by-run; hydra-optuna-sweeper's `custom_search_space`)"),
    Key("early_stop", "mapping", doc="early termination, see the options below"),
    Key("early_stop.type", "str", "none", nullable=False, doc="an early-stop policy"),
    Key("backend", "mapping", doc="where trials run"),
    Key("backend.type", "str", "local", nullable=False, doc="a registered backend"),
    Key("resources", "mapping", doc="what one trial holds"),
    Key("resources.cpus", "number", 1.0, low=0, nullable=False, doc="CPUs per trial"),
    Key("resources.gpus", "number", 0.0, low=0, inclusive=True, nullable=False,
        doc="GPUs per trial: a fraction of one, or a whole number"),
)

#: each config group's options and their own keys (the group's selector key aside)
GROUP_OPTIONS: dict[str, dict[str, tuple[Key, ...]]] = {
    "early_stop": {
        "none": (),
        "hyperband": (
            Key("early_stop.min_iter", "int", 1, low=1, nullable=False, doc="the first rung's step"),
            Key("early_stop.max_iter", "int", None, low=1, doc="the last rung's step; null: inferred from reports"),
            Key("early_stop.eta", "number", 3, low=1, nullable=False, keep_int=True,
                doc="keep 1/eta of the trials at each rung"),
        ),
        "asha": (
            Key("early_stop.min_iter", "int", 1, low=1, nullable=False, doc="the first rung's step"),
            Key("early_stop.eta", "number", 3, low=1, nullable=False, keep_int=True,
                doc="keep 1/eta of the trials at each rung"),
            Key("early_stop.bootstrap_count", "int", 0, low=0, nullable=False,
                doc="trials a rung needs before it prunes"),
        ),
        "median": (
            Key("early_stop.warmup_steps", "int", 0, low=0, nullable=False, doc="steps before a trial can be pruned"),
            Key("early_stop.startup_trials", "int", 5, low=0, nullable=False,
                doc="finished trials before any is pruned"),
        ),
    },
    "backend": {
        "local": (),
        "ray": (
            Key("backend.address", "str", None, doc="null: a private local Ray; `auto` or `host:port` joins a "
                "cluster"),
            # not composed: sweeps stored before it existed keep their identity (definition hash)
            Key("backend.storage", "str", None, composed=False, doc="a folder every node mounts: checkpoints "
                "survive a retry on another node"),
        ),
    },
}
#: what each group's options are selected by, and the option used when a file names none
SELECTOR = {"search": "method", "early_stop": "type", "backend": "type"}
GROUP_DEFAULTS = {"search": "tpe", "early_stop": "none", "backend": "local"}
#: keys that may change on resume without changing the sweep's identity
BUDGET_KEYS = ("n_trials", "workers", "max_failures", "budget")

#: the keys of `KEYS` by their dotted path
KEYS_BY_PATH = {k.path: k for k in KEYS}


def key(path: str) -> Key:
    return KEYS_BY_PATH[path]


def top_keys() -> tuple[str, ...]:
    return tuple(k.path for k in KEYS if "." not in k.path)


def section_keys(section: str) -> tuple[str, ...]:
    """The keys of a plain section (objective, trial, tracking, resources)."""
    return tuple(k.name for k in KEYS if k.path.startswith(section + "."))


def group_keys(group: str, option: str) -> tuple[Key, ...]:
    return GROUP_OPTIONS[group].get(option, ())


def group_defaults(group: str, option: str) -> dict[str, Any]:
    """An option's keys with their defaults: what Hydra composes for `group=option`."""
    return {k.name: k.default for k in group_keys(group, option) if k.composed}


def sections() -> tuple[str, ...]:
    """The plain mapping sections (objective, trial, ...): keys with keys of their own, groups aside."""
    return tuple(k.path for k in KEYS if k.kind == "mapping" and k.path not in SELECTOR
                 and any(o.path.startswith(k.path + ".") for o in KEYS))


def suggest(key_name: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key_name, list(allowed), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key ({hint}allowed: {', '.join(allowed)})"


def check_group(source: str, group: str, option: str, options: dict[str, Any]) -> dict[str, Any]:
    """A group option's keys, validated, defaults filled in; unknown keys are refused."""
    keys = group_keys(group, option)
    names = [k.name for k in keys]
    for name in options:
        # a backend's null keys are ignored: the other backend's keys may be composed in beside it
        if name not in names and (options[name] is not None or group != "backend"):
            what = {"early_stop": "type", "backend": "backend"}.get(group, group)
            allowed = [SELECTOR[group], *names] if group == "backend" else names
            raise SpecError(source, f"{group}.{name}",
                            f"unknown key for {what} {option!r} (allowed: {', '.join(allowed) or 'none'})")
    return {k.name: k.check(source, options.get(k.name, k.default)) for k in keys}


def register_groups() -> None:
    """Offer the groups' options to Hydra's composition, from this table (no YAML copies of it)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for group, options in GROUP_OPTIONS.items():
        for option in options:
            cs.store(group=group, name=option, node={SELECTOR[group]: option, **group_defaults(group, option)})


def markdown_table() -> str:
    """The README's key table."""
    def default(k: Key) -> str:
        if not k.nullable and k.default is None:
            return "required"
        return "`null`" if k.default is None else f"`{k.default}`"

    from ..search import METHODS

    registered = {"search": sorted(METHODS), **{g: list(o) for g, o in GROUP_OPTIONS.items()}}
    lines = ["| key | allowed | default | meaning |", "|---|---|---|---|"]
    for k in KEYS:
        if k.kind != "mapping":
            allowed = k.allowed()
            group = k.path.split(".")[0]
            if k.name == SELECTOR.get(group):
                allowed = "one of " + ", ".join(registered[group])
            lines.append(f"| `{k.path}` | {allowed} | {default(k)} | {k.doc} |")
    for group, options in GROUP_OPTIONS.items():
        for option, keys in options.items():
            for k in keys:
                lines.append(f"| `{k.path}` ({SELECTOR[group]} {option}) | {k.allowed()} | {default(k)} | {k.doc} |")
    return "\n".join(lines)
