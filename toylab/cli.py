"""The `toylab` command line. Every subcommand calls the library; none re-implements it."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import typing
from importlib.metadata import entry_points
from pathlib import Path


from .engine.config import MAX_MEMBERS, ConfigError, TrainConfig, load_config_file, make_config, read_value
from .engine.files import DiskFullError
from .measure.bandwidth import EVAL_SAMPLES
from .games.config import DIRAC_LOSSES, GAMES, METHOD_NAMES, ORDERS, GameConfig


#: `toylab train --preset`'s names: toylab.experiments.presets.PRESETS' (tested), written here so
#: that `toylab --help` starts without loading the recipes
PRESET_NAMES = ("collapse", "vanishing", "oscillation", "converging")


def _parse_value(text: str, annotation, name: str = "value"):
    """A field value from the command line: strings stay strings, the rest is config.read_value
    (safe_load: no aliases, anchors or tags; a refusal names the field). A tuple field takes its
    values comma-separated, '--betas 0.5,0.999' (or as a list, '[0.5, 0.999]'); anything else is
    refused with that form."""
    if annotation is str or typing.get_origin(annotation) is typing.Literal:
        return text
    if typing.get_origin(annotation) is tuple:
        inner = text.strip().removeprefix("(").removesuffix(")") if text.strip().startswith("(") else text.strip()
        value = read_value(inner if inner.startswith("[") else f"[{inner}]", name)
        n = len(typing.get_args(annotation))
        if not isinstance(value, list) or len(value) != n or any(isinstance(v, (list, dict)) for v in value):
            default = TrainConfig.model_fields[name].default if name in TrainConfig.model_fields else None
            example = ",".join(map(str, default)) if isinstance(default, tuple) else ",".join(["1"] * n)
            raise ConfigError(f"{name}: give {n} comma-separated numbers, e.g. --{name.replace('_', '-')} {example} "
                              f"(got {text!r})")
        return value
    return read_value(text, name)


def add_config_options(p: argparse.ArgumentParser) -> None:
    """--config FILE and one --field-name option per TrainConfig field."""
    p.add_argument("--config", metavar="FILE", help="TOML, YAML or JSON file of config fields")
    g = p.add_argument_group("config fields (override --config)")
    for name, f in TrainConfig.model_fields.items():
        ann = f.annotation
        choices = typing.get_args(ann) if typing.get_origin(ann) is typing.Literal else None
        extra = {"nargs": "?", "const": "true"} if ann is bool else {}
        default = f.default if f.default_factory is None else f.default_factory()
        g.add_argument(f"--{name.replace('_', '-')}", dest=f"field_{name}", metavar="V",
                       help=f"{f.description} (default {default!r}"
                            + (f"; one of {', '.join(choices)})" if choices else ")"), **extra)


def config_from_args(args) -> TrainConfig:
    """The config of `toylab train`: a preset's fields (--preset, the dashboard's presets), then
    --config's, then each --field option, each over the one before."""
    fields = {}
    if getattr(args, "preset", None):
        from .experiments.presets import preset_fields
        fields = preset_fields(args.preset)
    fields.update(load_config_file(args.config) if getattr(args, "config", None) else {})
    for name, f in TrainConfig.model_fields.items():
        v = getattr(args, f"field_{name}", None)
        if v is not None:
            fields[name] = _parse_value(v, f.annotation, name)
    return make_config(**fields)


def cmd_datasets(args) -> int:
    from .engine import datasets
    width = max(map(len, datasets.names()))
    for name, desc in datasets.describe().items():
        print(f"{name:<{width}}  {desc}")
    return 0


DEFAULT_RUN = "runs/run"
#: the picture formats `figure` and `xy` write (matplotlib's)
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def parse_seeds(text: str) -> list[int]:
    """--seeds 0,1,2: distinct whole numbers >= 0, at most config.MAX_MEMBERS of them."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(p.isdigit() for p in parts):
        raise ValueError(f"--seeds: comma-separated whole numbers >= 0, e.g. 0,1,2 (got {text!r})")
    seeds = [int(p) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: each seed once (got {text!r}); a repeated seed would train the same GAN twice")
    if len(seeds) > MAX_MEMBERS:
        raise ValueError(f"--seeds: at most {MAX_MEMBERS} seeds train together (got {len(seeds)})")
    return seeds


def cmd_train(args) -> int:
    from .api import resume, trainer
    from .engine import runs
    from .pictures import mpl_figures as viz
    from .pictures.export import check_path
    if args.resume:
        given = [f"--{n.replace('_', '-')}" for n in TrainConfig.model_fields if getattr(args, f"field_{n}") is not None]
        given += [o for o, v in (("--config", args.config), ("--seeds", args.seeds), ("--out", args.out)) if v]
        if given:
            raise ValueError(f"--resume continues a run with its own config and folder; {', '.join(given)} "
                             f"cannot be changed (give --steps-total, or train a new run)")
        run = resume(args.resume, steps=args.steps_total, progress=not args.quiet)
    else:
        if args.steps_total is not None:
            raise ValueError("--steps-total: only with --resume RUN (a new run trains --steps rounds)")
        cfg = config_from_args(args)
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        out = check_path(args.out or DEFAULT_RUN, "--out")
        t = trainer(cfg, seeds=seeds, out=out, progress=not args.quiet)
        print(f"run folder: {t.path}" + ("" if args.out else
              f"  (no --out given: the default is {DEFAULT_RUN}, a taken name gets -2, -3, ...)"), flush=True)
        run = t.fit()
    _report(run)
    if run.status == runs.INTERRUPTED:
        print(f"interrupted: the run is saved at round {run.step}; continue it with "
              f"toylab train --resume {run.path} --steps-total N" if run.path else "interrupted")
        return 130
    if run.path is not None and run.snapshots:
        viz.save_figure(viz.summary_figure(run), run.path / "summary.png")
        print(f"summary figure: {run.path / 'summary.png'}")
    return 0 if run.status in (runs.COMPLETED, runs.DIVERGED, runs.STOPPED) else 1


def _report(run) -> None:
    from .engine import runs
    print(f"status: {run.status} at round {run.step}" + (f"  run: {run.path}" if run.path else ""))
    for e, s in enumerate(run.member_status):
        if s == runs.DIVERGED:
            print(f"  member {e} (seed {run.configs[e].seed}) diverged at round {run.diverged_step[e]}")


def cmd_evaluate(args) -> int:
    from .measure import metrics
    from .engine.runs import load_run
    metrics.check_evaluate(args.n, args.seed, names=("--n", "--seed"))     # before loading the run
    run = load_run(args.run, snapshots=False)
    rows = metrics.evaluate(run, n=args.n, seed=args.seed)
    if args.json:
        print(json.dumps(rows, indent=2, default=float))
        return 0
    weights = run.networks().step
    note = f" (weights of round {weights}, the last finite checkpoint)" if weights != run.step else ""
    print(f"{run.path}: {run.config.dataset}, {run.config.loss}, {run.status} at round {run.step}{note}, "
          f"{args.n} samples per member")
    for r in rows:
        parts = [f"member {r['member']} (seed {r['seed']}, {r['status']})",
                 f"JS {r['js']:.4f} ± {r.get('js_se', math.nan):.4f} nats ({r.get('js_bits', math.nan):.4f} bits)"
                 + (" (clipped at 0: no divergence resolved)" if r.get("js_raw", 0) < 0 else "")]
        if "js_lower_bound" in r:
            parts.append(f"D's bound {r['js_lower_bound']:.4f}")
        if "modes_captured" in r:
            parts.append(f"modes present {r['modes_present']}/{r['num_modes']} (captured {r['modes_captured']} "
                         f"± {r['modes_captured_se']:.1f}), high quality {r['high_quality']:.1%} "
                         f"± {r['high_quality_se']:.1%}, off-mode {r['off_mode']:.1%} ± {r['off_mode_se']:.1%}, "
                         f"reverse KL {r['reverse_kl']:.3f}")
        if "nonfinite" in r:
            parts.append(f"NaN/Inf rows {r['nonfinite']:.1%}")
        print("  " + " | ".join(parts))
    return 0


def cmd_xy(args) -> int:
    from . import games
    from .pictures import gameviz, mpl_figures as viz
    from .pictures.export import FRAME_SUFFIXES, check_fps, check_out
    opts = {k: v for k, v in dict(a=args.a, loss=args.loss, r1_gamma=args.r1_gamma, noise=args.noise,
                                  gamma=args.gamma, beta=args.beta, order=args.order, d_steps=args.d_steps).items()
            if v is not None}
    try:
        start = tuple(float(v) for v in args.start.split(","))
    except ValueError:
        start = None
    if start is None or len(start) != 2:
        raise ValueError(f"--start: two numbers x,y such as 1,1 (got {args.start!r})")
    cfg = games.GameConfig(methods=args.methods, game=args.game, lr=args.lr, lr_y=args.lr_y, start=start, **opts)
    methods, start = list(cfg.methods), cfg.start
    if args.lr_y is not None:
        opts["lr_y"] = args.lr_y
    out = Path(args.out)
    animation = out.suffix.lower() in FRAME_SUFFIXES
    most = MAX_ORBIT_FRAMES if animation else games.MAX_STEPS
    if not 1 <= args.steps <= most:
        raise ValueError(f"--steps: must be from 1 to {most:,}" + (" for an animation (one frame per step)"
                                                                   if animation else "") + f" (got {args.steps})")
    if animation:
        check_fps(args.fps)
        check_out(out, args.overwrite)
        gameviz.animate_orbits(methods, args.lr, args.steps, out, start, args.game, fps=args.fps, size=args.size,
                               theme=args.theme, overwrite=args.overwrite, progress=not args.quiet, **opts)
    else:
        _check_figure_out(out, args.overwrite)
        viz.save_figure(gameviz.orbit_figure(methods, args.lr, args.steps, start, args.game, **opts), out)
    for m in methods:
        print(f"{m:>14}: spectral radius {games.spectral_radius(m, args.lr, args.game, **opts):.6f}")
    print(f"wrote {out}")
    return 0


#: an xy animation draws one frame per step
MAX_ORBIT_FRAMES = 5000


def _check_figure_out(out: Path, overwrite: bool) -> None:
    """--out of a static figure: a known picture format, a writable place, not an existing file."""
    from .pictures.export import check_path
    check_path(out, "--out", probe=True)
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"--out: {out.suffix or 'no suffix'} is not a picture format; allowed: "
                         f"{', '.join(FIGURE_SUFFIXES)}")
    if out.is_dir():
        raise ValueError(f"--out: {out} is a folder; give a file name such as {out / 'figure.png'}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out: {out} already exists; choose another name or pass --overwrite")


def cmd_sweep(args) -> int:
    from . import experiments as X
    if args.list or not args.spec:
        quick = X.quick_sizes()
        for name, desc in X.recipes().items():
            print(f"{name:<20} {desc} (--quick: {quick[name]})")
        return 0
    exp = X.load_experiment(args.spec, quick=args.quick, seeds=args.seeds, steps=args.steps)
    out = Path(args.out or f"experiments/{exp.name}" + ("-quick" if args.quick else ""))
    jobs = exp.jobs()
    print(f"{exp.name}: {len(exp.settings())} settings x {exp.seeds_text()} = "
          f"{sum(len(j['members']) for j in jobs)} runs in {len(jobs)} ensembles -> {out}")
    try:
        table = X.run_experiment(exp, out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    except KeyboardInterrupt:
        done = len(list((out / "results").glob("*.json"))) if (out / "results").exists() else 0
        print(f"interrupted: {done} of {len(jobs)} jobs finished and kept; unfinished jobs were discarded. "
              f"Run the same command again to finish the rest.", file=sys.stderr)
        return 130
    print(f"{len(table)} rows: {out / 'results.csv'}")
    print(X.report(out))
    return 0


def cmd_report(args) -> int:
    from . import experiments as X
    print(X.report(args.experiment, plots=not args.no_plots))
    return 0


#: entry points that add subcommands: `register(subparsers)` (the dashboards package adds
#: `toylab dashboard` this way, so the library never imports it)
COMMANDS_GROUP = "toylab.commands"


def add_plugin_commands(sub) -> None:
    """Each installed ``toylab.commands`` entry point adds its subcommand(s)."""
    for ep in entry_points(group=COMMANDS_GROUP):
        ep.load()(sub)


def cmd_animate(args) -> int:
    from .pictures.animation import animate
    out = animate(args.run, args.out, fps=args.fps, panels=args.panels, theme=args.theme, size=args.size,
                  member=args.member, frames=args.frames, hold=args.hold, overwrite=args.overwrite,
                  progress=not args.quiet)
    print(f"wrote {out}")
    return 0


def cmd_figure(args) -> int:
    from .pictures import mpl_figures as viz
    from .pictures.panels import check_panels, get_size, get_theme
    out = Path(args.out)
    _check_figure_out(out, args.overwrite)
    check_panels(args.panels), get_size(args.size), get_theme(args.theme)
    if args.member < 0:
        raise ValueError(f"--member: must be a member index >= 0 (got {args.member})")
    run = viz.load_for_frame(args.run, args.step)
    fig = viz.frame_figure(run, args.step, member=args.member, panels=args.panels, theme=args.theme,
                           size=args.size)
    viz.save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def add_look_options(p: argparse.ArgumentParser, panels: bool = True, size: str = "720p") -> None:
    """--theme, --size (and --panels, --member): how a picture or an animation looks."""
    from .pictures.looks import PANELS, SIZES, THEMES
    p.add_argument("--theme", default="light", choices=list(THEMES), help="light or dark slides (default light)")
    p.add_argument("--size", default=size, help=f"{', '.join(SIZES)} or WIDTHxHEIGHT (default {size})")
    if panels:
        p.add_argument("--panels", default="all", help=f"comma-separated, from: {', '.join(PANELS)} (default all)")
        p.add_argument("--member", type=int, default=0, help="ensemble member to draw (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toylab", description="A 2D toy-distribution visual lab for GANs.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("datasets", help="list the built-in targets")
    d.set_defaults(func=cmd_datasets)
    t = sub.add_parser("train", help="train a GAN (or an ensemble over --seeds) and save the run")
    add_config_options(t)
    t.add_argument("--preset", metavar="NAME", choices=PRESET_NAMES,
                   help=f"start from a failure-mode preset, as the dashboard's buttons: {', '.join(PRESET_NAMES)} "
                        f"(toylab.experiments.presets); --config and the options override its fields")
    t.add_argument("--out", help=f"run folder (default {DEFAULT_RUN}; a fresh -2, -3, ... if taken); "
                                 f"the folder is printed before training starts")
    t.add_argument("--seeds", help="comma-separated seeds: train them together as one ensemble")
    t.add_argument("--resume", metavar="RUN", help="continue a saved run from its last checkpoint")
    t.add_argument("--steps-total", type=int, help="with --resume: train to this many rounds")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="JS divergence, D's bound and mode coverage of a saved run")
    ev.add_argument("run", help="run folder")
    ev.add_argument("--n", type=int, default=EVAL_SAMPLES,
                    help=f"samples per member, 100 to 100,000 (default {EVAL_SAMPLES})")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=cmd_evaluate)
    xy = sub.add_parser("xy", help="orbits of gradient methods on min_x max_y xy or Dirac-GAN")
    game = {k: f.default for k, f in GameConfig.model_fields.items()}     # the defaults: GameConfig's
    xy.add_argument("--methods", default=",".join(game["methods"]), help=f"comma-separated: {', '.join(METHOD_NAMES)}")
    xy.add_argument("--lr", type=float, default=game["lr"], help="step size (of x; --lr-y for y)")
    xy.add_argument("--lr-y", type=float, help="y's step size (default: --lr)")
    xy.add_argument("--steps", type=int, default=game["steps"])
    xy.add_argument("--start", default=",".join(f"{c:g}" for c in game["start"]), help="x,y start point")
    xy.add_argument("--game", default=game["game"], choices=GAMES)
    xy.add_argument("--a", type=float, help="xy game scale: f = a x y")
    xy.add_argument("--loss", choices=DIRAC_LOSSES, help="Dirac-GAN loss")
    xy.add_argument("--r1-gamma", type=float, help="Dirac-GAN R1 weight")
    xy.add_argument("--noise", type=float, help="Dirac-GAN instance noise std")
    xy.add_argument("--gamma", type=float, help="consensus weight")
    xy.add_argument("--beta", type=float, help="momentum (negative allowed)")
    xy.add_argument("--order", choices=ORDERS, help="momentum update order")
    xy.add_argument("--d-steps", type=int, help="alternating: D steps per G step")
    xy.add_argument("--fps", type=int, default=30, help="animation frames per second")
    xy.add_argument("--out", default="orbit.png",
                    help=".png/.svg/.pdf figure, or a .gif/.mp4 animation (or a folder for PNG frames)")
    add_look_options(xy, panels=False, size="square720")
    xy.add_argument("--quiet", action="store_true", help="no progress bar")
    xy.set_defaults(func=cmd_xy)
    an = sub.add_parser("animate", help="animate a saved run: .mp4, .gif, .html, or a folder of PNG frames")
    an.add_argument("run", help="run folder")
    an.add_argument("--out", required=True, help="FILE.mp4 | FILE.gif | FILE.html | FOLDER (PNG sequence)")
    an.add_argument("--fps", type=float, default=12, help="frames (snapshots) per second (default 12)")
    an.add_argument("--frames", type=int, help="at most this many snapshots, evenly spread (default all; "
                                              "60 for .html)")
    an.add_argument("--hold", type=float, default=1.0, help="seconds the last frame stays, 0 to 60 (default 1)")
    add_look_options(an)
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    an.set_defaults(func=cmd_animate)
    sw = sub.add_parser("sweep", help="run an experiment (a recipe name or a .toml/.yaml spec) over seeds")
    sw.add_argument("spec", nargs="?", help="recipe name (toylab sweep --list) or spec file")
    sw.add_argument("--list", action="store_true", help="list the built-in recipes")
    sw.add_argument("--out", help="experiment folder (default experiments/NAME); rerun to resume")
    sw.add_argument("--seeds", type=int, help="seeds per setting (overrides the spec)")
    sw.add_argument("--steps", type=int, help="training rounds (overrides the spec's base)")
    sw.add_argument("--quick", action="store_true", help="the spec's smoke size, its [quick] table (1 seed and a few "
                                                          "dozen rounds; --list shows each recipe's; a spec without "
                                                          "one: 1 seed, 100 rounds) into experiments/NAME-quick")
    sw.add_argument("--workers", type=int, help="local worker processes (default: one per core; 1: in-process)")
    sw.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(func=cmd_sweep)
    rp = sub.add_parser("report", help="Markdown summary and plots of an experiment folder")
    rp.add_argument("experiment", help="experiment folder")
    rp.add_argument("--no-plots", action="store_true")
    rp.set_defaults(func=cmd_report)
    add_plugin_commands(sub)
    fg = sub.add_parser("figure", help="one snapshot of a saved run as a static figure (.pdf, .svg, .png)")
    fg.add_argument("run", help="run folder")
    fg.add_argument("--step", type=int, help="snapshot step (default: the last)")
    fg.add_argument("--out", required=True, help="FILE.pdf | FILE.svg | FILE.png")
    add_look_options(fg)
    fg.set_defaults(func=cmd_figure)
    return p


def _terminate(signum, frame):
    raise KeyboardInterrupt       # SIGTERM stops a command as Ctrl-C does (training sets its own handler)


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("toylab: interrupted", file=sys.stderr)
        return 130
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"toylab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:              # a full disk, a read-only or missing place, a name too long, ...
        if isinstance(err, DiskFullError):
            print(f"toylab {args.command}: error: {err}", file=sys.stderr)
        else:
            where = f" {err.filename}" if err.filename else ""
            print(f"toylab {args.command}: error: cannot use{where}: {err.strerror or err} "
                  f"(check the path and its permissions)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"toylab {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
