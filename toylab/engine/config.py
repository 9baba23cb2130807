"""TrainConfig: every knob of a toy GAN run, with defaults in one visible place.

Validated at the boundary (pydantic): unknown fields and out-of-range values are
refused with a message naming the field and what is allowed.

>>> cfg = TrainConfig(dataset="grid25", loss="minimax", steps=2000)
>>> cfg.lr_d
0.0002
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..games.methods import MOVES
from . import safe_load, target_params

#: the update methods of GAN training: the games' shared methods, alternating (the default) first
UPDATES = ("alternating", *(m for m in MOVES if m != "alternating"))

#: The GAN objectives, the one table of them: name -> (title, D outputs a probability's logit).
#: toylab.engine.losses implements each; pictures and the dashboard show the titles.
OBJECTIVES = {"nonsaturating": ("non-saturating GAN", True), "minimax": ("minimax (saturating) GAN", True),
              "lsgan": ("LSGAN", False), "wgan": ("WGAN (clipped)", False), "wgan-gp": ("WGAN-GP", False),
              "hinge": ("hinge GAN", False)}
Loss = Literal[tuple(OBJECTIVES)]  # type: ignore[valid-type]
#: the objectives whose D outputs a logit, read as the probability D(x) = sigmoid(logit)
PROBABILISTIC = tuple(name for name, (_, logit) in OBJECTIVES.items() if logit)
Activation = Literal["leaky_relu", "relu", "tanh"]
Optimizer = Literal["adam", "sgd", "rmsprop"]

#: Fields that may differ between the members of one ensemble (numbers and seeds only).
ENSEMBLE_FIELDS = ("seed", "lr_d", "lr_g")
#: The most members one ensemble may have (every network is an (E, P) parameter: memory grows with E).
MAX_MEMBERS = 1024
#: the largest config file read (a config is a short table of fields)
MAX_FILE_BYTES = safe_load.MAX_FILE_BYTES


class TrainConfig(BaseModel):
    """One GAN run on a 2D target. Defaults follow the classic tutorials:
    non-saturating BCE loss, Adam(2e-4, betas=(0.5, 0.999)), LeakyReLU(0.2)."""

    # allow_inf_nan=False: no field takes inf or NaN (an infinite r1_gamma, gp_lambda or clip was accepted)
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    # target
    dataset: str = Field("ring8", description="the target distribution p_data the generator must learn (toylab "
        "datasets); ring8 and grid25 are the mode-collapse benchmarks")
    dataset_params: dict[str, Any] = Field(default_factory=dict, description="the target's parameters, name=value "
        "comma-separated on the command line and the form (e.g. k=8, radius=2, std=0.02)")
    # networks
    z_dim: int = Field(2, ge=1, le=512, description="dimension of the generator's noise input z")
    noise: Literal["gaussian", "uniform"] = Field("gaussian", description="distribution p_z of the noise z")
    g_hidden: int = Field(128, ge=1, le=4096, description="width of the generator's hidden layers")
    g_depth: int = Field(2, ge=1, le=16, description="number of hidden layers of the generator")
    d_hidden: int = Field(128, ge=1, le=4096, description="width of the discriminator's hidden layers")
    d_depth: int = Field(2, ge=1, le=16, description="number of hidden layers of the discriminator")
    activation: Activation = Field("leaky_relu", description="hidden activation of both networks (LeakyReLU as in "
        "DCGAN)")
    g_activation: Activation | None = Field(None, description="G's hidden activation (default: activation)")
    d_activation: Activation | None = Field(None, description="D's hidden activation (default: activation)")
    d_maxout: int = Field(1, ge=1, le=16, description="maxout pieces per unit of D's hidden layers (1: off; "
                                                     "PacGAN's D uses 5)")
    g_batchnorm: bool = Field(False, description="batch normalisation in G's hidden layers (PacGAN's G)")
    init: Literal["uniform", "normal"] = Field("uniform", description="weight initialisation: uniform (torch's "
                                               "nn.Linear) or normal (N(0, init_std^2), zero biases)")
    init_std: float = Field(0.02, gt=0, le=1, description="standard deviation of init='normal'")
    leaky_slope: float = Field(0.2, ge=0, lt=1, description="LeakyReLU negative slope")
    spectral_norm: bool = Field(False, description="spectral normalisation on D's layers")
    conditional: bool = Field(False, description="G and D see the mixture component label")
    pack: int = Field(1, ge=1, le=16, description="PacGAN: D judges packs of this many samples, batch_size "
                                                 "packs a step (pack x batch_size samples drawn; 1: off)")
    unrolled_steps: int = Field(0, ge=0, le=20, description="unrolled GAN: G's loss looks through k "
                                                            "differentiable D updates (0: off)")
    # objective
    loss: Loss = Field("nonsaturating", description="the game: minimax = the saturating log(1 - D(G(z))) of "
                       "Goodfellow et al.; nonsaturating = -log D(G(z)) for G (their practical fix); lsgan, wgan, "
                       "wgan-gp, hinge are later objectives")
    r1_gamma: float = Field(0.0, ge=0, le=1e4, description="zero-centred R1 penalty weight gamma (0: off)")
    gp_lambda: float = Field(10.0, ge=0, le=1e4, description="gradient-penalty weight for wgan-gp")
    clip: float = Field(0.01, gt=0, le=100, description="weight clipping bound for wgan")
    # optimisation
    d_optimizer: Optimizer = Field("adam", description="optimiser of D")
    g_optimizer: Optimizer = Field("adam", description="optimiser of G")
    lr_d: float = Field(2e-4, gt=0, le=10, description="learning rate of D (2e-4 with Adam in DCGAN)")
    lr_g: float = Field(2e-4, gt=0, le=10, description="learning rate of G")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam betas")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD / RMSprop momentum")
    d_steps: int = Field(1, ge=1, le=100, description="k: discriminator updates per round (Goodfellow et al.'s inner "
        "loop)")
    g_steps: int = Field(1, ge=1, le=100, description="generator updates per round")
    update: Literal[UPDATES] = Field(
        "alternating", description="update method (toylab.games.methods): alternating: D then G, each seeing "
        "the other's newest weights; simultaneous: both from the same point (spirals out on the xy game); "
        "optimistic: twice this step less the last one; extragradient: step with the gradient of a look-ahead "
        "point (both converge on the xy game)")
    batch_size: int = Field(256, ge=1, le=65536, description="real and fake samples per update")
    steps: int = Field(5000, ge=0, le=10_000_000, description="rounds to train in total (one round = d_steps + "
        "g_steps)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of initial weights, noise and data: the same seed "
        "gives the same run")
    device: str = Field("auto", description="auto (CUDA when there is a GPU), cpu, cuda, cuda:N or mps")
    threads: int | Literal["auto"] = Field("auto", description="CPU threads for training (torch intra-op); "
                                                               "auto: as many as cores are free of other "
                                                               "work, re-read every second (toylab.threads)")
    # recording
    snapshot_every: int = Field(50, ge=1, le=10_000_000, description="rounds between the pictures (snapshots); "
        "smaller = smoother, slower")
    max_snapshots: int = Field(200, ge=2, le=10_000, description="snapshots kept in memory (thinned beyond)")
    log_every: int = Field(10, ge=1, le=10_000_000, description="rounds between rows of the metrics CSV")
    metrics_every: int = Field(100, ge=0, le=10_000_000, description="rounds between measurements (JS, modes); "
                                                      "a multiple of snapshot_every, 0: off")
    n_fixed: int = Field(1000, ge=1, le=100_000, description="fixed noise batch drawn at every snapshot")
    grid_size: int = Field(100, ge=8, le=1000, description="D(x) grid resolution per axis")
    manifold_size: int = Field(21, ge=2, le=200, description="noise-grid lines per axis for the manifold")
    tensorboard: bool = Field(False, description="also log to TensorBoard (needs the tensorboard extra)")

    def __init__(self, **fields):
        try:
            super().__init__(**fields)
        except ValidationError as err:
            raise ConfigError(*format_errors(err)) from None

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v, info):
        """true/false is not a number: g_hidden: true was read as 1 (pydantic's lax mode)."""
        kind = cls.model_fields[info.field_name].annotation
        if isinstance(v, bool) and kind is not bool:
            raise ValueError("must be a number, not true/false" if kind in (int, float) or info.field_name in
                             ("threads", "betas") else "true/false is not a value of this field")
        return v

    @field_validator("betas")
    @classmethod
    def _betas(cls, v):
        if not all(0 <= b < 1 for b in v):
            raise ValueError("both betas must lie in [0, 1)")
        return v

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if v != "auto" and not 1 <= v <= 256:
            raise ValueError("allowed: auto, or a whole number of threads from 1 to 256")
        return v

    @field_validator("dataset_params")
    @classmethod
    def _dataset_params_keys(cls, v):
        bad = [k for k in v if not isinstance(k, str)]
        if bad:
            raise ValueError(f"parameter names must be strings, got {safe_load.short(bad[0], 60)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        ok = v in ("auto", "cpu", "mps", "cuda") or (v.startswith("cuda:") and v[5:].isdigit())
        if not ok:
            raise ValueError("allowed: auto, cpu, cuda, cuda:N, mps")
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v):
        if v not in target_params.names():
            raise ValueError(f"allowed: {', '.join(target_params.names())}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        try:
            target_params.check_params(self.dataset, self.dataset_params)
        except ValueError as err:
            raise ValueError(f"dataset_params: {err}") from None
        if self.metrics_every % self.snapshot_every:
            raise ValueError(f"metrics_every ({self.metrics_every}) must be a multiple of snapshot_every "
                             f"({self.snapshot_every}), or 0 for no measurements")
        if self.pack > 1 and self.conditional:
            raise ValueError("pack > 1 with conditional=True is not supported (labels are per sample)")
        if self.unrolled_steps and self.loss == "wgan-gp":
            raise ValueError("unrolled_steps with loss='wgan-gp' is not supported: the look-ahead would "
                             "differentiate the gradient penalty twice more (it diverges); use wgan or hinge")
        if self.unrolled_steps and self.update != "alternating":
            raise ValueError("unrolled_steps needs update='alternating' (G looks ahead of D's next steps)")
        if self.update != "alternating" and (self.d_steps != 1 or self.g_steps != 1):
            raise ValueError(f"update={self.update!r} needs d_steps = g_steps = 1 "
                             "(several steps per player is an alternating schedule)")
        return self

    # ---- conveniences -------------------------------------------------
    def target(self):
        """The target this config trains on."""
        from . import datasets
        return datasets.get(self.dataset, **self.dataset_params)

    def replace(self, **changes) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return make_config(**{**self.model_dump(), **changes})

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


class ConfigError(ValueError):
    """A config was refused; the message names each bad field and what is allowed, and `fields`
    maps each bad field to its message (a check across fields under ""), so a form shows each
    message under its field without parsing the text."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.fields = dict(fields or {})

    def __reduce__(self):                 # a sweep's worker process sends it back whole
        return type(self), (str(self), self.fields)


def make_config(**fields) -> TrainConfig:
    """TrainConfig(**fields); a ConfigError names every bad field and what is allowed."""
    return TrainConfig(**fields)


def format_errors(err: ValidationError) -> tuple[str, dict[str, str]]:
    """(the message: one line a bad field, its {field: message}) of pydantic's errors."""
    lines, fields = [], {}
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field; allowed fields: {', '.join(TrainConfig.model_fields)}"
        elif e["type"] == "literal_error":
            msg = msg.replace("Input should be", "allowed:")
        if e["loc"] and e["type"] != "extra_forbidden":
            msg = f"{msg} (got {safe_load.short(e.get('input'))})"
        named, _, rest = msg.partition(": ")
        if not field and named in TrainConfig.model_fields:     # a check across fields, about one of them
            field, msg = named, rest
        fields[field] = f"{fields[field]}; {msg}" if field in fields else msg
        lines.append(f"{field}: {msg}" if field else msg)     # a check across fields names them itself
    return "invalid TrainConfig\n  " + "\n  ".join(lines), fields


def read_value(text: str, what: str = "value"):
    """A value typed as text (a command-line option, a dashboard field): read as YAML (numbers,
    booleans, lists), numbers such as 1e-3 that YAML 1.1 leaves as strings as floats, text that is
    not YAML at all the text itself. The one reader of typed values for the CLI and the dashboard:
    safe_load.load_value, so aliases, anchors, tags, duplicate keys, more than
    safe_load.MAX_VALUE_CHARS characters and deep nesting are a ConfigError naming `what`."""
    if not isinstance(text, str):
        raise ConfigError(f"{what}: must be text, got a {type(text).__name__}")
    try:
        value = safe_load.load_value(text.strip(), what=what)
    except safe_load.MalformedInput:
        return text.strip()
    except safe_load.InputError as err:
        raise ConfigError(str(err)) from None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def read_mapping(path, what: str = "config") -> dict:
    """The table of fields in a TOML, YAML or JSON file, read by safe_load (no aliases, anchors, tags
    or duplicate keys; at most 1 MB and 32 levels deep). Every failure is a ConfigError naming
    `what` and the file: missing, a folder or other non-regular file, unreadable, malformed, refused,
    or not a table with string keys."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what}: no such file {path}")
    if not path.is_file():
        raise ConfigError(f"{what}: {path} is not a file (give a .toml, .yaml, .yml or .json file)")
    kinds = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}
    if path.suffix not in kinds:
        raise ConfigError(f"{what}: file must be .toml, .yaml, .yml or .json, got {path.suffix!r}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{what}: {path} is larger than 1 MB; a config is a short table of fields")
    # one guarded reader (safe_load): a regular file only, aliases/anchors/tags/duplicate keys
    # refused, size and nesting capped; messages quote at most a short cut of the text
    name = f"{what}: {path}"
    try:
        text = safe_load.read_text(path, what=what, max_bytes=MAX_FILE_BYTES)
    except safe_load.MalformedInput:                       # not UTF-8
        raise ConfigError(f"{name} is not valid {kinds[path.suffix]} (not UTF-8 text)") from None
    except safe_load.InputError as err:                    # a FIFO, a device, grown past the cap
        raise ConfigError(str(err)) from None
    except OSError as err:
        raise ConfigError(f"{name} could not be read ({type(err).__name__}: {safe_load.short_text(err)})") \
            from None
    try:
        if path.suffix == ".toml":
            data = safe_load.load_toml(text, what=name)
        elif path.suffix == ".json":
            data = safe_load.load_json(text, what=name)
        else:
            data = safe_load.load_value(text, what=name, max_chars=MAX_FILE_BYTES)
            data = {} if data is None else data
    except safe_load.InputError as err:        # malformed, or refused: an alias, a tag, too deep, a key twice
        detail = str(err).removeprefix(f"{name}: ")
        if detail.startswith("not valid ") and detail.endswith(")") and " (" in detail:
            detail = detail.split(" (", 1)[1][:-1]      # the reader's own words
        raise ConfigError(f"{name} is not valid {kinds[path.suffix]} ({safe_load.short_text(detail)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {path} must hold a table of fields (a mapping), got a {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{what}: {path}: field names must be strings, got {safe_load.short(bad[0], 60)}")
    return data


def load_config_file(path) -> dict:
    """Fields from a TOML, YAML or JSON file (a [train] table in TOML is accepted too)."""
    data = read_mapping(path, "config")
    fields = data.get("train", data)
    if not isinstance(fields, dict):
        raise ConfigError(f"config: {path}: [train] must be a table of fields, got a {type(fields).__name__}")
    return dict(fields)


def check_ensemble(configs: list[TrainConfig]) -> None:
    """Members of one ensemble may differ only in ENSEMBLE_FIELDS."""
    if len(configs) > MAX_MEMBERS:
        raise ConfigError(f"ensemble: {len(configs)} members; at most {MAX_MEMBERS} train together")
    base = configs[0].model_dump(exclude=set(ENSEMBLE_FIELDS))
    for i, c in enumerate(configs[1:], 1):
        other = c.model_dump(exclude=set(ENSEMBLE_FIELDS))
        diff = sorted(k for k in base if base[k] != other[k])
        if diff:
            raise ConfigError(f"ensemble member {i} differs in {', '.join(diff)}; members may differ "
                              f"only in {', '.join(ENSEMBLE_FIELDS)}")
    seen: dict[tuple, int] = {}
    for i, c in enumerate(configs):
        key = tuple(getattr(c, k) for k in ENSEMBLE_FIELDS)
        if key in seen:
            raise ConfigError(f"ensemble member {i} repeats member {seen[key]} (seed {c.seed}, lr_d {c.lr_d}, "
                              f"lr_g {c.lr_g}): it would train the same GAN twice; give distinct seeds")
        seen[key] = i
