"""The search space: each `params` entry → a Param that knows its Optuna distribution and grid.

The grammar is Hydra's own override grammar, parsed by Hydra's `OverridesParser`, so a Hydra
user's `choice(...)`, `range(...)`, `interval(...)`, `int(...)` and `tag(log, ...)` mean exactly
what they mean in `hydra -m`. The W&B mapping form is accepted too, so W&B sweeps port over.

A parameter may be conditional: `{when: "optimizer=sgd", sweep: "interval(0.5, 0.99)"}` exists
only in trials where `optimizer` took `sgd` (`when` is a Hydra override, `key=a,b` for several
values, or a list of them, all of which must hold). It is drawn define-by-run after the params it
depends on, so a sampler never models a parameter a trial did not have.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from ..errors import SpecError

_SWEEP_CALL = re.compile(r"^\s*(choice|range|interval|int|float|str|bool|tag|glob|shuffle|sort)\s*\(")
_WANDB_KEYS = {"values", "value", "min", "max", "distribution", "q"}
WANDB_DISTRIBUTIONS = ("categorical", "uniform", "int_uniform", "log_uniform_values", "q_uniform")
_PRIMITIVE = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Condition:
    """`key=a,b`: the parameter exists only when parameter `key` took one of `values`."""

    key: str
    values: tuple[Any, ...]
    text: str

    def holds(self, params: dict[str, Any]) -> bool:
        if self.key not in params:  # the parameter it depends on is absent itself
            return False
        v = params[self.key]
        return any(v == c and isinstance(v, bool) == isinstance(c, bool) for c in self.values)


@dataclass(frozen=True)
class Param:
    """One parameter: `fixed` (a constant in every trial), `categorical`, `float` or `int`; with
    `when`, only in trials where every condition holds."""

    name: str
    kind: str
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    expr: str = ""
    when: tuple[Condition, ...] = ()

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    @property
    def is_conditional(self) -> bool:
        return bool(self.when)

    def active(self, params: dict[str, Any]) -> bool:
        """Whether a trial with these params (so far) has this one."""
        return all(c.holds(params) for c in self.when)

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid_values(self) -> list[Any] | None:
        """The finite values a grid walks through; None for a continuous range."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step is not None:
            n = int(round((self.high - self.low) / self.step))
            return [_tidy(self.low + i * self.step) for i in range(n + 1)]
        return None

    def admits(self, value: Any) -> bool:
        """Whether `value` is one this parameter can take (a seed trial's, an imported trial's)."""
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step:  # on the grid of its steps, as Optuna's distribution keeps it
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-9
        return True

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"fixed {self.value!r}"
        if self.kind == "categorical":
            return f"categorical {list(self.choices)}"
        step = f", step {self.step:g}" if self.step else ""
        return f"{self.kind} [{self.low:g}, {self.high:g}]{' log' if self.log else ''}{step}"


def _tidy(x: float) -> float:
    return float(f"{x:.12g}")


def parse_params(raw: Any, source: str) -> dict[str, Param]:
    if raw is None or (isinstance(raw, dict) and not raw):
        raise SpecError(source, "params", "missing: give at least one parameter, e.g. `params: {lr: interval(1e-4, 1e-1)}`")
    if not isinstance(raw, dict):
        raise SpecError(source, "params", f"must be a mapping of name → value or expression, got {type(raw).__name__}")
    params: dict[str, Param] = {}
    for k, v in raw.items():
        name = _param_name(str(k), source)
        if name in params:
            raise SpecError(source, f"params.{k}", f"{name!r} is given twice (with and without Hydra's + prefix)")
        params[name] = parse_param(name, v, source)
    if all(p.is_fixed for p in params.values()):
        raise SpecError(source, "params", "every parameter is fixed: give at least one to search (choice, range, interval)")
    _check_conditions(params, source)
    return params


def conditional_order(params: dict[str, Param]) -> list[Param]:
    """The conditional params, each after those its conditions name (checked acyclic at load)."""
    done: set[str] = set()
    out: list[Param] = []

    def visit(p: Param) -> None:
        if p.name in done:
            return
        done.add(p.name)
        for c in p.when:
            dep = params[c.key]
            if dep.is_conditional:
                visit(dep)
        out.append(p)

    for p in params.values():
        if p.is_conditional:
            visit(p)
    return out


def _check_conditions(params: dict[str, Param], source: str) -> None:
    for p in params.values():
        for c in p.when:
            key = f"params.{p.name}.when"
            dep = params.get(c.key)
            if dep is None or c.key == p.name:
                others = ", ".join(n for n in params if n != p.name)
                raise SpecError(source, key, f"{c.text!r} names {c.key!r}, which is not another parameter "
                                f"(parameters: {others})")
            bad = [v for v in c.values if not (dep.admits(v) if not dep.is_fixed else v == dep.value)]
            if bad:
                takes = f"is fixed to {dep.value!r}" if dep.is_fixed else f"takes {dep.describe()}"
                raise SpecError(source, key, f"{c.text!r}: {c.key} never takes {bad[0]!r} ({c.key} {takes})")
    # no cycles: a parameter cannot exist only when it (through others) exists
    state: dict[str, int] = {}

    def walk(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = " -> ".join([*path[path.index(name):], name])
            raise SpecError(source, f"params.{name}.when", f"conditions go round in a circle: {loop}")
        state[name] = 1
        for c in params[name].when:
            walk(c.key, [*path, name])
        state[name] = 2

    for name in params:
        walk(name, [])


_KEY = re.compile(r"^[A-Za-z_][\w\-]*(?:[./][A-Za-z0-9_][\w\-]*)*$")


def _param_name(name: str, source: str) -> str:
    """A parameter's config key. Hydra's `+key`/`++key` (add a key the config lacks) is what a
    trial's config gets anyway (a key its base config lacks is added): the prefix is dropped.
    `~key` deletes a key, which no sweep parameter can do."""
    if name.startswith("~"):
        raise SpecError(source, f"params.{name}", "Hydra's ~ deletes a key from the config, a sweep parameter "
                        "takes values: drop it from the trial's config instead")
    key = name[2:] if name.startswith("++") else name[1:] if name.startswith("+") else name
    if not _KEY.match(key):
        raise SpecError(source, f"params.{name}", "a parameter is a config key: letters, digits, _ and -, "
                        "dotted for nested keys (model.depth) or a config group path (db or model/encoder)")
    return key


def parse_param(name: str, raw: Any, source: str) -> Param:
    key = f"params.{name}"
    if isinstance(raw, dict) and "when" in raw:
        return _conditional(name, raw, key, source)
    if isinstance(raw, str) and _SWEEP_CALL.match(raw):
        return _from_expression(name, raw, key, source)
    if isinstance(raw, dict) and raw and set(raw) <= _WANDB_KEYS:
        return _from_wandb(name, raw, key, source)
    if isinstance(raw, dict):  # a silent constant holding a mapping is the worst misreading: refuse it
        unknown = sorted(str(k) for k in raw if k not in _WANDB_KEYS)
        raise SpecError(source, key, f"a mapping here is a W&B form with keys {', '.join(sorted(_WANDB_KEYS))}"
                        f"{f', not {unknown[0]!r}' if unknown else ''}, or a conditional parameter "
                        "{when: other=value, sweep: ...}; a constant mapping is written {value: {...}}")
    return Param(name, "fixed", value=raw, expr=repr(raw))


def _conditional(name: str, raw: dict, key: str, source: str) -> Param:
    extra = sorted(set(raw) - {"when", "sweep"})
    if extra or "sweep" not in raw:
        what = f"unknown key {extra[0]!r}" if extra else "missing `sweep`"
        raise SpecError(source, key, f"{what}: a conditional parameter is {{when: \"other=value\", sweep: "
                        "EXPRESSION}, e.g. {when: \"optimizer=sgd\", sweep: \"interval(0.5, 0.99)\"}")
    inner = raw["sweep"]
    if isinstance(inner, dict) and "when" in inner:
        raise SpecError(source, f"{key}.sweep", "one `when` per parameter: give a list of conditions instead")
    texts = raw["when"] if isinstance(raw["when"], list) else [raw["when"]]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise SpecError(source, f"{key}.when", f"a condition is a string like \"optimizer=sgd\" (or a list of them), "
                        f"got {raw['when']!r}")
    return replace(parse_param(name, inner, source), when=tuple(_condition(t, f"{key}.when", source) for t in texts))


def _condition(text: str, key: str, source: str) -> Condition:
    """`other=a` or `other=a,b`, read by Hydra's override parser (as `hydra -m` reads it)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep

    form = f"{text!r}: a condition is other=value or other=a,b (values of another parameter)"
    try:
        override = OverridesParser.create().parse_override(text.strip())
    except Exception:
        raise SpecError(source, key, form) from None
    value = override.value()
    other = override.key_or_group.lstrip("+")
    if override.package or override.is_delete() or other != override.key_or_group:
        raise SpecError(source, key, form)
    if isinstance(value, ChoiceSweep) and not value.tags and not getattr(value, "shuffle", False):
        values = tuple(value.list)
    elif isinstance(value, _PRIMITIVE):
        values = (value,)
    else:
        raise SpecError(source, key, form)
    return Condition(_param_name(other, source), values, text.strip())


def _from_expression(name: str, expr: str, key: str, source: str) -> Param:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    try:
        value = OverridesParser.create().parse_override(f"p={expr}").value()
    except Exception as e:  # Hydra's messages are multi-line; keep the first useful line
        msg = " ".join(str(e).split("\n")[0].split())
        if expr.count("(") != expr.count(")"):
            msg = "unbalanced parentheses (inside a YAML {...} mapping, quote the expression: \"choice(1, 2)\")"
        raise SpecError(source, key, f"cannot parse {expr!r}: {msg}") from None
    tags = set(getattr(value, "tags", set()) or set())
    log = "log" in tags
    if isinstance(value, ChoiceSweep):
        if log:
            raise SpecError(source, key, "tag(log, ...) applies to interval(...) or range(...), not choice(...)")
        choices = tuple(value.list)
        bad = [c for c in choices if not isinstance(c, _PRIMITIVE)]
        if bad:
            raise SpecError(source, key, f"choice values must be numbers, strings, booleans or null, got {bad[0]!r}")
        if not choices:
            raise SpecError(source, key, "choice(...) needs at least one value")
        return Param(name, "categorical", choices=choices, expr=expr)
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None or low >= high:
            raise SpecError(source, key, f"interval low {low} must be below high {high}")
        if log and low <= 0:
            raise SpecError(source, key, f"tag(log, ...) needs low > 0, got {low}")
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        return Param(name, kind, low=low, high=high, log=log, expr=expr)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if step is None or step <= 0:
            raise SpecError(source, key, f"range step must be > 0, got {step}")
        if log:
            raise SpecError(source, key, "tag(log, range(...)) is not supported: use tag(log, interval(...))")
        if all(isinstance(v, int) for v in (start, stop, step)):
            values = list(range(start, stop, step))
            if not values:
                raise SpecError(source, key, f"range({start}, {stop}, {step}) is empty (Hydra's range excludes stop)")
            if len(values) == 1:
                return Param(name, "fixed", value=values[0], expr=expr)
            return Param(name, "int", low=values[0], high=values[-1], step=step, expr=expr)
        n = math.ceil((stop - start) / step - 1e-9)
        if n <= 0:
            raise SpecError(source, key, f"range({start}, {stop}, step={step}) is empty (Hydra's range excludes stop)")
        last = _tidy(start + (n - 1) * step)
        if n == 1:
            return Param(name, "fixed", value=float(start), expr=expr)
        return Param(name, "float", low=float(start), high=last, step=float(step), expr=expr)
    raise SpecError(source, key, f"unsupported expression {expr!r}: use choice, range, interval, int(interval) or tag(log, interval)")


def _num(source: str, key: str, raw: dict, field: str) -> float:
    v = raw.get(field)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(source, f"{key}.{field}", f"must be a number, got {v!r}")
    return v


def _from_wandb(name: str, raw: dict, key: str, source: str) -> Param:
    expr = repr(dict(raw))
    if "value" in raw:
        return Param(name, "fixed", value=raw["value"], expr=expr)
    dist = raw.get("distribution")
    if dist is None:
        dist = "categorical" if "values" in raw else None
    if dist is None:
        if "min" not in raw or "max" not in raw:
            raise SpecError(source, key, "W&B form needs `values`, `value`, or `min` and `max`")
        both_int = all(isinstance(raw[k], int) and not isinstance(raw[k], bool) for k in ("min", "max"))
        dist = "int_uniform" if both_int else "uniform"
    if dist not in WANDB_DISTRIBUTIONS:
        raise SpecError(source, f"{key}.distribution", f"unknown distribution {dist!r} (allowed: {', '.join(WANDB_DISTRIBUTIONS)})")
    if dist == "categorical":
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise SpecError(source, f"{key}.values", "categorical needs a non-empty list `values`")
        bad = [c for c in values if not isinstance(c, _PRIMITIVE)]
        if bad:
            raise SpecError(source, f"{key}.values", f"values must be numbers, strings, booleans or null, got {bad[0]!r}")
        return Param(name, "categorical", choices=tuple(values), expr=expr)
    low, high = _num(source, key, raw, "min"), _num(source, key, raw, "max")
    if low >= high:
        raise SpecError(source, key, f"min {low} must be below max {high}")
    if dist == "log_uniform_values":
        if low <= 0:
            raise SpecError(source, f"{key}.min", f"log_uniform_values needs min > 0, got {low}")
        return Param(name, "float", low=float(low), high=float(high), log=True, expr=expr)
    if dist == "int_uniform":
        return Param(name, "int", low=int(low), high=int(high), expr=expr)
    if dist == "q_uniform":
        q = raw.get("q", 1.0)
        if isinstance(q, bool) or not isinstance(q, (int, float)) or q <= 0:
            raise SpecError(source, f"{key}.q", f"must be a number > 0, got {q!r}")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, q)):  # W&B: integer q → ints
            first, last = q * math.ceil(low / q), q * math.floor(high / q)
            if first >= last:
                raise SpecError(source, key, f"no two multiples of q={q} in [{low}, {high}]")
            return Param(name, "int", low=first, high=last, step=q, expr=expr)
        n = math.floor((high - low) / q + 1e-9)
        return Param(name, "float", low=float(low), high=_tidy(low + n * q), step=float(q), expr=expr)
    return Param(name, "float", low=float(low), high=float(high), expr=expr)
