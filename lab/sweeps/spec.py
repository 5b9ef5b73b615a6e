"""Reading a sweep spec: TOML file + `--set key=value` overrides -> a validated `Spec`."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from lab.config import ModelConfig, Spec, SpecError, SweepConfig, TaskConfig, TrainConfig

SECTIONS = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}
TABLE_FIELDS = ("model.init_overrides",)  # fields given as a TOML table of name = string lines


def _fields(cls) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def field_type(dotted: str) -> type:
    """The Python type of a dotted field ("train.lr"), or a SpecError naming the allowed keys."""
    section, _, name = dotted.partition(".")
    if section not in SECTIONS:
        raise SpecError(f"unknown field {dotted!r}; fields start with one of {', '.join(SECTIONS)}")
    fields = _fields(SECTIONS[section])
    if name not in fields:
        raise SpecError(f"unknown key {dotted!r}; allowed keys in [{section}]: {', '.join(fields)}")
    return fields[name]


def _table(dotted: str, value: Any) -> tuple[tuple[str, str], ...]:
    """A table field's {name: string} (or its pairs) as sorted pairs, or a SpecError."""
    pairs = value.items() if isinstance(value, dict) else value
    try:
        out = tuple(sorted((str(k), v) for k, v in pairs))
    except (TypeError, ValueError):
        raise SpecError(f"{dotted} must be a table of name = \"initializer\" lines, got {value!r}") from None
    for name, v in out:
        if not isinstance(v, str):
            raise SpecError(f"{dotted}.{name} must be a string such as \"variance_scaling(2)\", got {v!r}")
    return out


def _gather_tables(section: str, flat: dict[str, Any]) -> dict[str, Any]:
    """Flattened "init_overrides.W_E" keys gathered back into their table field."""
    out = dict(flat)
    for dotted in TABLE_FIELDS:
        sec, name = dotted.split(".")
        if sec != section:
            continue
        entries = {k[len(name) + 1:]: out.pop(k) for k in list(out) if k.startswith(name + ".")}
        if entries or name in out:
            out[name] = {**dict(_table(dotted, out.get(name, {}))), **entries}
    return out


def coerce(dotted: str, value: Any) -> Any:
    """value checked against the type of the field (ints are accepted for floats)."""
    if dotted in TABLE_FIELDS:
        field_type(dotted)
        return _table(dotted, value)
    kind = field_type(dotted)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise SpecError(f"{dotted} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def spec_from_dict(raw: dict[str, Any], name: str = "sweep") -> Spec:
    """Validate a nested dict (as read from TOML) into a Spec; unknown keys and bad types are errors."""
    unknown = set(raw) - {*SECTIONS, "sweep", "name", "reference"}
    if unknown:
        raise SpecError(f"unknown section {sorted(unknown)[0]!r}; allowed: {', '.join([*SECTIONS, 'sweep'])}")
    parts = {}
    for section, cls in SECTIONS.items():
        values = raw.get(section, {})
        if not isinstance(values, dict):
            raise SpecError(f"[{section}] must be a table of key = value lines")
        flat = _gather_tables(section, _flatten(values))
        parts[section] = cls(**{k: coerce(f"{section}.{k}", v) for k, v in flat.items()})
    sweep_raw = dict(raw.get("sweep", {}))
    variants = _variants(sweep_raw.pop("variants", {}))
    sweep_raw = _flatten(sweep_raw)
    seeds = sweep_raw.pop("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool):
        raise SpecError(f"sweep.seeds must be int, got {type(seeds).__name__} {seeds!r}")
    seed_data = sweep_raw.pop("seed_data", False)
    if not isinstance(seed_data, bool):
        raise SpecError(f"sweep.seed_data must be true or false, got {seed_data!r}")
    axes = []
    for dotted, values in sweep_raw.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep.{dotted} must be a non-empty list of values, got {values!r}")
        axes.append((dotted, tuple(coerce(dotted, v) for v in values)))
    sweep = SweepConfig(seeds=seeds, seed_data=seed_data, axes=tuple(axes), variants=variants)
    reference = raw.get("reference", "")
    if not isinstance(reference, str):
        raise SpecError(f"reference must be a string naming published data, got {reference!r}")
    spec = Spec(**parts, sweep=sweep, name=str(raw.get("name", name)), reference=reference)
    spec.validate()
    for dotted, values in axes:  # each swept value on its own; combinations are checked by grid.expand
        for value in values:
            spec.replace(dotted, value).validate()
    for _, fields in variants:
        spec.replace_all(dict(fields)).validate()
    return spec


def _variants(raw: Any) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """[sweep.variants.NAME] tables of dotted fields -> ((NAME, ((dotted, value), ...)), ...)."""
    if not isinstance(raw, dict):
        raise SpecError("sweep.variants must be tables: [sweep.variants.NAME] with \"section.key\" = value lines")
    out = []
    for variant, fields in raw.items():
        if not isinstance(fields, dict) or not fields:
            raise SpecError(f"sweep.variants.{variant} must be a non-empty table of \"section.key\" = value lines")
        try:
            flat = _flatten(fields)
            for dotted in TABLE_FIELDS:  # a variant's table ("model.init_overrides" = {W_E = ...}) sets the whole table
                entries = {k[len(dotted) + 1:]: flat.pop(k) for k in list(flat) if k.startswith(dotted + ".")}
                if entries:
                    flat[dotted] = entries
            out.append((str(variant), tuple((k, coerce(k, v)) for k, v in flat.items())))
        except SpecError as e:
            hint = (" (a variant name with a dot must be quoted: [sweep.variants.\"name.with.dot\"])"
                    if "fields start with" in str(e) else "")
            raise SpecError(f"sweep.variants.{variant}: {e}{hint}") from None
    return tuple(out)


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr=1e-3' -> ('train.lr', 0.001); values are read as TOML, else kept as strings."""
    if "=" not in text:
        raise SpecError(f"--set {text!r} must look like key=value, e.g. --set train.steps=2000")
    key, _, value = text.partition("=")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw spec dict with each override set: `key=value` texts (the CLI's --set) or a dict
    {key: value} (Python's); sweep.<field> sets an axis."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    pairs = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in pairs:
        section, _, rest = key.partition(".")
        if not rest:
            raise SpecError(f"--set {key!r} must name a section and a key, e.g. train.lr")
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise SpecError(f"--set {key!r}: {section!r} is not a section")
        variants = table.pop("variants", None) if section == "sweep" else None
        table = _flatten(table)
        table[rest] = value
        out[section] = table if variants is None else {**table, "variants": variants}
    return out


def load_spec(path: str | Path, overrides: list[str] | dict[str, Any] = ()) -> Spec:
    """Read, override (see `apply_overrides`) and validate the spec at path; its name is the file's stem
    unless it sets one."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no spec file at {path}; specs live in sweeps/, e.g. sweeps/quickstart.toml")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path} is not valid TOML: {e}") from None
    return spec_from_dict(apply_overrides(raw, overrides if isinstance(overrides, dict) else list(overrides)),
                          name=path.stem)
