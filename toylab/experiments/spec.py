"""Experiment specs: a base config, settings (variants x a grid), seeds, outcome rules and an
optional paper reference; the built-in recipes (recipes/*.toml) and spec files (TOML, YAML, JSON)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.config import ENSEMBLE_FIELDS, MAX_MEMBERS, ConfigError, make_config, read_mapping
from ..engine.safe_load import MAX_FILE_BYTES, load_json, read_text
from ..measure.outcomes import OutcomeRules

RECIPES = Path(__file__).parent / "recipes"


@dataclass
class Experiment:
    """base: TrainConfig fields; variants: [{label, seeds?, **overrides}]; grid: {field: [values]}
    (settings = every variant x every grid point); seeds: the seeds of every setting, unless its
    variant names its own (`seeds`: a count or a list), e.g. a paper's 10 trials for the settings
    the budget allows and 2 for the costly ones."""

    name: str
    base: dict = field(default_factory=dict)
    variants: list[dict] = field(default_factory=list)
    grid: dict[str, list] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: list(range(8)))
    rules: OutcomeRules = field(default_factory=OutcomeRules)
    description: str = ""
    #: a paper's numbers to put beside this experiment's: {"source": str, "rows": {setting:
    #: {modes_captured, high_quality, reverse_kl: the paper's text}}} (the report's side-by-side table)
    reference: dict = field(default_factory=dict)

    def settings(self) -> list[tuple[str, dict]]:
        """(label, overrides) of every setting, validated (errors name the setting and field)."""
        return [(name, overrides) for name, overrides, _ in self._settings()]

    def setting_seeds(self) -> dict[str, list[int]]:
        """Each setting's seeds: its variant's own `seeds`, else the experiment's."""
        return {name: seeds for name, _, seeds in self._settings()}

    def seeds_text(self) -> str:
        """The seeds per setting in words: "2 seeds", or "2-10 seeds" where variants differ."""
        counts = sorted({len(s) for s in self.setting_seeds().values()})
        return f"{counts[0]}{f'-{counts[-1]}' if len(counts) > 1 else ''} seed{'s' * (counts[-1] != 1)}"

    def _settings(self) -> list[tuple[str, dict, list[int]]]:
        keys = list(self.grid)
        points = [dict(zip(keys, vals)) for vals in itertools.product(*(self.grid[k] for k in keys))] or [{}]
        out = []
        for variant in self.variants or [{}]:
            variant = dict(variant)
            label = str(variant.pop("label", "")) or None
            own = variant.pop("seeds", None)
            for point in points:
                overrides = {**variant, **point}
                parts = [label] if label else []
                parts += [f"{k}={v}" for k, v in point.items()]
                name = ", ".join(parts) or "base"
                try:
                    make_config(**{**self.base, **overrides})
                    seeds = self.seeds if own is None else _seeds(own)
                except ConfigError as err:
                    raise ConfigError(f"setting {name!r}: {err}") from None
                out.append((name, overrides, seeds))
        labels = [n for n, _, _ in out]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"settings: labels must differ; got {labels}")
        return out

    def jobs(self) -> list[dict]:
        """Members grouped into ensembles: configs equal up to seed, lr_d and lr_g train together."""
        groups: dict[str, dict] = {}
        for label, overrides, seeds in self._settings():
            for seed in seeds:
                cfg = make_config(**{**self.base, **overrides, "seed": int(seed)})
                key = json.dumps({k: v for k, v in cfg.model_dump(mode="json").items() if k not in ENSEMBLE_FIELDS},
                                 sort_keys=True)
                g = groups.setdefault(key, {"members": []})
                record = cfg.model_dump(mode="json")
                if record.get("threads") == "auto":      # (a field added later: old job ids stay valid)
                    del record["threads"]
                g["members"].append({"setting": label, "seed": int(seed), "overrides": overrides,
                                     "config": record})
        jobs = []
        for i, g in enumerate(groups.values()):
            digest = hashlib.sha1(json.dumps(g["members"], sort_keys=True).encode()).hexdigest()[:8]
            jobs.append({"id": f"{i:03d}-{digest}", "members": g["members"]})
        return jobs

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description, "base": self.base, "variants": self.variants,
             "grid": self.grid, "seeds": list(self.seeds), "rules": self.rules.to_dict()}
        return {**d, "reference": self.reference} if self.reference else d

    @classmethod
    def from_dict(cls, d: dict) -> "Experiment":
        """An experiment from its spec; each part of the spec is checked, and an error names it
        and what is allowed."""
        if not isinstance(d, dict):
            raise ConfigError(f"experiment: a spec is a mapping of name, base, variants, grid, seeds, rules "
                              f"(got a {type(d).__name__})")
        d = dict(d)
        bad = [k for k in d if k not in ("name", "description", "base", "variants", "grid", "seeds", "rules", "quick",
                                         "reference")]
        if bad:
            raise ConfigError(f"experiment: unknown {', '.join(map(str, bad))}; allowed: name, description, base, "
                              f"variants, grid, seeds, rules, quick, reference")
        if not isinstance(d.get("quick", {}), dict):
            raise ConfigError(f"quick: must be a table of seeds and TrainConfig fields, got {d['quick']!r}")
        name = d.get("name", "experiment")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"name: {name!r}; a name is letters, digits, '_', '-' and '.', not starting with "
                              f"'.' (it names the experiment's folder)")
        base = d.get("base", {})
        if not isinstance(base, dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {base!r}")
        variants = d.get("variants", [])
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise ConfigError(f"variants: must be a list of tables (each a label and TrainConfig fields), "
                              f"got {variants!r}")
        grid = d.get("grid", {})
        if not isinstance(grid, dict):
            raise ConfigError(f"grid: must be a table of field = [values], got {grid!r}")
        for k, vals in grid.items():
            if not isinstance(vals, list) or not vals:
                raise ConfigError(f"grid.{k}: must be a non-empty list of values, e.g. {k} = [a, b] "
                                  f"(got {vals!r})")
        seeds = _seeds(d.get("seeds", 8))
        rules = d.get("rules")
        if rules is not None and not isinstance(rules, dict):
            raise ConfigError(f"rules: must be a table of outcome thresholds, got {rules!r}")
        try:
            rules = OutcomeRules.from_dict(rules)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"rules: {err}") from None
        exp = cls(name=name, base=dict(base), variants=list(variants), grid=dict(grid), seeds=seeds,
                  rules=rules, description=str(d.get("description", "")), reference=d.get("reference", {}))
        labels = [label for label, _ in exp.settings()]         # validate now
        _check_reference(exp.reference, labels)
        return exp


REFERENCE_COLUMNS = {"modes_captured": "modes captured", "high_quality": "high quality", "reverse_kl": "reverse KL"}


def _check_reference(ref, labels: list[str]) -> None:
    """reference: a source and, per setting of this experiment, the paper's text for some columns."""
    allowed = f"a table with source = \"...\" and rows.<setting> = {{{', '.join(REFERENCE_COLUMNS)}}}"
    if not isinstance(ref, dict) or (ref and not isinstance(ref.get("source"), str)) or \
            not isinstance(ref.get("rows", {}), dict) or set(ref) - {"source", "rows"}:
        raise ConfigError(f"reference: must be {allowed} (got {str(ref)[:80]})")
    for label, row in ref.get("rows", {}).items():
        if label not in labels:
            raise ConfigError(f"reference.rows: {label!r} is not a setting; settings: {', '.join(labels)}")
        if not isinstance(row, dict) or set(row) - set(REFERENCE_COLUMNS) or \
                not all(isinstance(v, (str, int, float)) for v in row.values()):
            raise ConfigError(f"reference.rows.{label}: must be a table of {', '.join(REFERENCE_COLUMNS)} "
                              f"(the paper's numbers as text; got {str(row)[:80]})")


_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def _seeds(seeds) -> list[int]:
    """A seed count (1 .. MAX_MEMBERS) or a list of distinct seeds (integers >= 0)."""
    allowed = f"a count from 1 to {MAX_MEMBERS}, or a list of at most {MAX_MEMBERS} distinct integers >= 0"
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds: {allowed} (got {seeds!r})")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_MEMBERS:
            raise ConfigError(f"seeds: {allowed} (got {seeds})")
        return list(range(seeds))
    if not isinstance(seeds, list) or not seeds or len(seeds) > MAX_MEMBERS or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"seeds: {allowed} (got {str(seeds)[:80]})")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ConfigError(f"seeds: {dup} given more than once; each seed is one run (give distinct seeds)")
    return list(seeds)


def recipes() -> dict[str, str]:
    """Built-in recipes: name -> description."""
    out = {}
    for p in sorted(RECIPES.glob("*.toml")):
        out[p.stem] = " ".join(_read(p).get("description", "").split()).split(": ")[0]
    return out


def quick_sizes() -> dict[str, str]:
    """Built-in recipes: name -> the size `--quick` runs, read from its [quick] table (QUICK where
    it has none), e.g. "1 seed, 30 rounds"."""
    out = {}
    for p in sorted(RECIPES.glob("*.toml")):
        small = {**QUICK, **(_read(p).get("quick") or {})}
        seeds = small["seeds"] if isinstance(small["seeds"], int) else len(small["seeds"])
        out[p.stem] = f"{seeds} seed{'s' * (seeds != 1)}, {small['steps']} rounds"
    return out


def _read(path: Path) -> dict:
    return read_mapping(path, "experiment")


#: the smoke size of a spec without a [quick] table
QUICK = {"seeds": 1, "steps": 100, "snapshot_every": 50, "metrics_every": 50}


def load_experiment(spec, quick: bool = False, **overrides) -> Experiment:
    """A recipe by name, a spec file, or a dict; overrides: seeds=N, steps=N (into base, and over
    any variant's own).

    quick: the spec's [quick] table (seeds and TrainConfig fields; QUICK if it has none)
    replaces those parts: the same settings at a smoke size, for tests and a first look."""
    if isinstance(spec, Experiment):
        d = spec.to_dict()
    elif isinstance(spec, dict):
        d = dict(spec)
    elif not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"experiment: give a recipe name, a spec file or a mapping (got a {type(spec).__name__})")
    else:
        path = Path(spec)
        if not path.suffix and (RECIPES / f"{spec}.toml").exists():
            path = RECIPES / f"{spec}.toml"
        if not path.exists():
            raise ConfigError(f"experiment: no recipe or file {spec!r}; recipes: {', '.join(recipes())}")
        d = _read(path)
    if not isinstance(d, dict):
        raise ConfigError(f"experiment: a spec is a mapping, got a {type(d).__name__}")
    small = d.pop("quick", None)
    asked = set()                  # the keys a size asked for sets: they hold for every setting
    if quick:
        small = dict(QUICK if small is None else small)
        if not isinstance(d.get("base", {}), dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {d['base']!r}")
        if "seeds" in small:
            d["seeds"] = small.pop("seeds")
            asked.add("seeds")
        d["base"] = {**d.get("base", {}), **small}
        asked |= set(small)
    if overrides.get("seeds") is not None:
        d["seeds"] = overrides["seeds"]
        asked.add("seeds")
    if overrides.get("steps") is not None:
        if not isinstance(d.get("base", {}), dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {d['base']!r}")
        d["base"] = {**d.get("base", {}), "steps": overrides["steps"]}
        asked.add("steps")
    if asked:
        d["variants"] = _without(d.get("variants", []), asked)
    return Experiment.from_dict(d)


def _without(variants, keys: set):
    """The variants without their own values of `keys` (a size asked for replaces every setting's)."""
    if not isinstance(variants, list):
        return variants                  # (refused by name in from_dict)
    return [{k: v for k, v in var.items() if k not in keys} if isinstance(var, dict) else var for var in variants]


# ---- running ------------------------------------------------------------------------------


def read_json(path, what: str | None = None, max_bytes: int = MAX_FILE_BYTES):
    """An experiment folder's JSON file (experiment.json, a job's rows), read guarded: a regular
    file only, at most MAX_FILE_BYTES of text (`safe_load.read_text`), depth-limited, no duplicate keys
    (`safe_load.load_json`; NaN allowed: json.dump writes what was not measured so); InputError (a
    ValueError) names the file otherwise."""
    what = what or Path(path).name
    return load_json(read_text(path, what=what, max_bytes=max_bytes), what=what, max_bytes=max_bytes,
                     allow_nan=True)
