"""Targets: densities integrate to 1, samples follow them, bad input is refused."""

import math

import numpy as np
import pytest
import torch

from toylab import datasets
from toylab.measure.kde import grid_points


def integrate(target, size):
    x0, x1, y0, y1 = target.bounds
    # midpoint rule on a size x size grid over the bounds
    hx, hy = (x1 - x0) / size, (y1 - y0) / size
    xs = torch.linspace(x0 + hx / 2, x1 - hx / 2, size)
    ys = torch.linspace(y0 + hy / 2, y1 - hy / 2, size)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    return float(target.log_prob(pts).double().exp().sum() * hx * hy)


@pytest.mark.parametrize("name,size", [("ring8", 1200), ("grid25", 800), ("gaussian", 200),
                                       ("anisotropic", 300), ("circle", 400), ("swissroll", 400),
                                       ("spiral", 400), ("checkerboard", 400), ("line", 400)])
def test_log_prob_integrates_to_one(name, size):
    assert integrate(datasets.get(name), size) == pytest.approx(1.0, abs=5e-3)


def test_every_builtin_listed_and_described():
    assert set(datasets.names()) >= {"ring8", "grid25", "ring", "grid", "circle", "anisotropic",
                                     "swissroll", "spiral", "checkerboard", "line", "points"}
    assert all(datasets.describe().values())


def test_ring8_geometry_and_mode_shares():
    t = datasets.get("ring8")
    assert t.modes.shape == (8, 2) and t.mode_std == pytest.approx(0.02)
    assert torch.allclose(t.modes.norm(dim=1), torch.full((8,), 2.0))
    x = t.sample(40_000, seed=0)
    assert x.norm(dim=1).mean() == pytest.approx(2.0, abs=0.002)
    share = torch.bincount(torch.cdist(x, t.modes).argmin(1), minlength=8) / len(x)
    assert torch.allclose(share, torch.full((8,), 1 / 8), atol=0.01)
    # the spread around each centre is the stated std
    nearest = t.modes[torch.cdist(x, t.modes).argmin(1)]
    assert (x - nearest).std() == pytest.approx(0.02, rel=0.03)


def test_grid25_centres():
    t = datasets.get("grid25")
    assert sorted(set(t.modes[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    assert t.num_modes == 25 and t.mode_std == pytest.approx(0.05)


def test_sample_seed_is_reproducible():
    t = datasets.get("swissroll")
    assert torch.equal(t.sample(100, seed=3), t.sample(100, seed=3))
    assert not torch.equal(t.sample(100, seed=3), t.sample(100, seed=4))


def test_samples_match_density_by_histogram():
    """Histogram of samples vs the exact density on cells: total variation small."""
    for name in ("circle", "spiral", "checkerboard", "anisotropic"):
        t = datasets.get(name)
        x = t.sample(200_000, seed=1).numpy()
        x0, x1, y0, y1 = t.bounds
        bins = 30
        h, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=bins, range=[[x0, x1], [y0, y1]])
        h = h / h.sum()
        # exact cell mass by a fine midpoint rule inside each cell
        sub = 8
        xs, ys, pts = grid_points((x0 + (x1 - x0) / (2 * bins * sub), x1 - (x1 - x0) / (2 * bins * sub),
                                   y0 + (y1 - y0) / (2 * bins * sub), y1 - (y1 - y0) / (2 * bins * sub)), bins * sub)
        p = t.log_prob(pts).exp().reshape(bins * sub, bins * sub).numpy()      # [y, x]
        cell = p.reshape(bins, sub, bins, sub).sum((1, 3)).T                   # [x, y]
        cell = cell / cell.sum()
        assert 0.5 * np.abs(h - cell).sum() < 0.03, name


def test_annulus_radius():
    t = datasets.get("circle", radius=1.5, std=0.05)
    r = t.sample(20_000, seed=0).norm(dim=1)
    assert r.mean() == pytest.approx(1.5, abs=0.003) and r.std() == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize("name,params,match", [
    ("ring", dict(k=0), "k must be >= 1"),
    ("ring", dict(std=0), "std must be a positive"),
    ("grid", dict(std=-1), "std must be a positive"),
    ("grid", dict(n=0), "n must be >= 1"),
    ("circle", dict(radius=-2), "radius must be a positive"),
    ("ring8", dict(colour=3), "bad parameters"),
    ("nope", {}, "unknown target 'nope'; choose one of"),
])
def test_bad_parameters_are_refused(name, params, match):
    with pytest.raises(ValueError, match=match):
        datasets.get(name, **params)


def test_points_from_csv_and_npy(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 2)) * [1.0, 0.3] + [1, 2]
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y")
    for f in ("p.npy", "p.csv"):
        t = datasets.get("points", path=tmp_path / f)
        assert t.points.shape == (500, 2)
        assert integrate(t, 300) == pytest.approx(1.0, abs=5e-3)
        # Scott's rule bandwidth, stated in the docstring
        assert t.bandwidth == pytest.approx(float(np.mean(pts.std(0, ddof=1))) * 500 ** (-1 / 6), rel=1e-4)
        # resampling with kernel noise keeps the data's own mean
        assert t.sample(20_000, seed=0).mean(0).numpy() == pytest.approx(pts.mean(0), abs=0.03)


@pytest.mark.parametrize("content,match", [
    ("1,2\n3,nan\n", "NaN"),
    ("1,2,3\n4,5,6\n", "shape"),
    ("", "no rows"),
    ("1,2\n", "at least 2 rows"),
])
def test_points_bad_files(tmp_path, content, match):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(ValueError, match=match):
        datasets.get("points", path=f)


def test_points_needs_a_path_and_known_suffix(tmp_path):
    with pytest.raises(ValueError, match="path="):
        datasets.get("points")
    (tmp_path / "x.txt2").write_text("1,2")
    with pytest.raises(ValueError, match=r"\.csv or \.npy"):
        datasets.get("points", path=tmp_path / "x.txt2")


def test_mixture_log_prob_matches_scipy():
    from scipy.stats import multivariate_normal
    t = datasets.get("anisotropic")
    x = t.sample(50, seed=2)
    ref = sum(0.5 * multivariate_normal(t.means[k].numpy(), t.covs[k].numpy()).pdf(x.numpy()) for k in range(2))
    assert np.allclose(t.log_prob(x).exp().numpy(), ref, rtol=1e-4)
    assert math.isclose(t.mode_std, 0.6, rel_tol=1e-5)


def test_paper_presets_are_named_targets():
    from toylab.engine.datasets import PRESETS
    ring = datasets.get("pacgan_ring")
    assert ring.name == "pacgan_ring" and ring.num_modes == 8 and ring.mode_std == pytest.approx(0.01)
    assert ring.modes.norm(dim=1).allclose(torch.ones(8))                      # radius 1 (Lin et al. 2018)
    assert datasets.get("ring8").modes.norm(dim=1).allclose(2 * torch.ones(8))  # VEEGAN's radius 2
    grid = datasets.get("pacgan_grid")
    assert grid.num_modes == 25 and grid.mode_std == pytest.approx(0.05)
    assert sorted(grid.modes[:, 0].unique().tolist()) == [-4, -2, 0, 2, 4]
    assert datasets.get("pacgan_ring", std=0.05).mode_std == pytest.approx(0.05)   # still overridable
    assert set(PRESETS) <= set(datasets.names())
    with pytest.raises(ValueError, match="std"):
        datasets.get("pacgan_ring", std=-1)


def test_each_familys_parameter_model_names_what_its_builder_takes():
    """One list of parameters per family: the pydantic model (what is checked) and the builder
    (what is built) name the same ones, so a new parameter cannot be built unchecked."""
    import inspect

    from toylab.engine import target_params
    families = [n for n in target_params.MODELS if n not in target_params.PRESETS and n != "points"]
    assert len(families) == 9
    for name in families:
        built = set(inspect.signature(datasets._BUILDERS[name]).parameters)
        assert built == set(target_params.MODELS[name].model_fields), name
    points = set(target_params.MODELS["points"].model_fields)
    assert points == {"path"} | (set(inspect.signature(datasets.PointCloud).parameters) & {"bandwidth"})


def test_checked_parameters_come_back_as_plain_values_and_only_those_given():
    given = datasets.check_params("gaussian", {"mean": np.array([1, 2]), "std": np.float32(0.5)})
    assert given == {"mean": (1.0, 2.0), "std": 0.5} and type(given["std"]) is float
    assert datasets.check_params("ring8", {"k": np.int64(4)}) == {"k": 4}
    assert datasets.check_params("ring", {}) == {}                    # the builder's defaults apply
    with pytest.raises(ValueError, match="unknown parameter 'kk'; allowed: k, radius, std"):
        datasets.check_params("ring8", {"kk": 4})


def test_kept_checks_and_targets_equal_fresh_ones(tmp_path):
    """check_params and datasets.get keep what they computed (the page asks for the same target
    many times: issue #30): a kept answer equals a fresh one, callers cannot change it through
    their copy, the same parameters give the same Target, and 'points' reads its file anew."""
    from toylab.engine import target_params
    for name, params in (("ring", {"k": 6, "radius": 1.5}), ("grid25", {}), ("checkerboard", {"n": 4})):
        first = target_params.check_params(name, params)
        first["mutated"] = True                                   # the caller's copy only
        again = target_params.check_params(name, params)
        assert again == target_params._check(name, params) and "mutated" not in again
        a, b = datasets.get(name, **params), datasets.get(name, **params)
        assert a is b
        fresh = datasets.build(name, target_params.check_params(name, params))
        x = fresh.sample(500, seed=3)
        torch.testing.assert_close(a.sample(500, seed=3), x)
        torch.testing.assert_close(a.log_prob(x), fresh.log_prob(x))
    assert datasets.get("ring", k=6) is not datasets.get("ring", k=7)
    with pytest.raises(ValueError, match="k must be"):
        datasets.get("ring", k=0)                                 # errors are never kept as answers
    f = tmp_path / "p.csv"
    f.write_text("0,0\n1,1\n2,0\n")
    one = datasets.get("points", path=str(f))
    f.write_text("0,0\n1,1\n2,0\n5,5\n")
    assert datasets.get("points", path=str(f)) is not one        # a file may change: read anew


def test_a_point_clouds_density_is_the_metrics_kde_of_its_points():
    """A user's points as a target: its log-density is measure's Gaussian KDE of them with the
    target's bandwidth - the very estimate the JS number uses for p_model - at any point."""
    from toylab.measure.kde import kde_log_prob
    pts = np.random.default_rng(3).normal(size=(400, 2)) * [1.0, 0.3]
    cloud = datasets.PointCloud(pts, bandwidth=0.15)
    at = torch.as_tensor(np.random.default_rng(4).uniform(-3, 3, size=(200, 2)), dtype=torch.float32)
    torch.testing.assert_close(cloud.log_prob(at).double(), kde_log_prob(at, torch.as_tensor(pts), 0.15).double(),
                               rtol=1e-5, atol=1e-5)
