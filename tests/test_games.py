"""The bilinear game and Dirac-GAN: every method's orbit against its known radius (THEORY.md)."""

import math

import numpy as np
import pytest
import torch

from toylab import games
from toylab.cli import main


def radius_of(matrix):
    return float(np.abs(np.linalg.eigvals(np.asarray(matrix))).max())


@pytest.mark.parametrize("eta", [0.05, 0.1, 0.3])
def test_simultaneous_grows_by_exactly_sqrt_1_plus_eta2(eta):
    z = games.trajectory("simultaneous", eta, 50)
    r = np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(r[1:] / r[:-1], math.sqrt(1 + eta ** 2), rtol=1e-12)
    assert games.spectral_radius("simultaneous", eta) == pytest.approx(math.sqrt(1 + eta ** 2), rel=1e-12)


@pytest.mark.parametrize("eta", [0.1, 0.5, 1.5])
def test_alternating_conserves_its_invariant_and_has_radius_one(eta):
    z = games.trajectory("alternating", eta, 500)
    c = z[:, 0] ** 2 + z[:, 1] ** 2 - eta * z[:, 0] * z[:, 1]
    np.testing.assert_allclose(c, c[0], rtol=1e-10)
    assert games.spectral_radius("alternating", eta) == pytest.approx(1.0, abs=1e-12)


# The table: method, options, step size, the radius known in closed form.
CASES = [
    ("simultaneous", {}, 0.2, math.sqrt(1 + 0.04)),
    ("extragradient", {}, 0.1, math.sqrt(1 - 0.01 + 0.0001)),
    ("extragradient", {}, 0.5, math.sqrt(1 - 0.25 + 0.0625)),
    ("consensus", {"gamma": 1.0}, 0.1, radius_of([[1 - 0.1, -0.1], [0.1, 1 - 0.1]])),
    ("consensus", {"gamma": 0.3}, 0.2, radius_of([[1 - 0.06, -0.2], [0.2, 1 - 0.06]])),
    # optimistic: the 4x4 map (z, g_prev) -> (z - 2 eta F z + eta g_prev, F z), F = [[0, 1], [-1, 0]]
    ("optimistic", {}, 0.1, radius_of(np.block([[np.eye(2) - 0.2 * np.array([[0, 1], [-1, 0]]), 0.1 * np.eye(2)],
                                                 [np.array([[0, 1], [-1, 0]]), np.zeros((2, 2))]]))),
    # heavy ball, simultaneous: (z, v) -> (z + beta v - eta F z, beta v - eta F z)
    ("momentum", {"beta": 0.5}, 0.1, radius_of(np.block([[np.eye(2) - 0.1 * np.array([[0, 1], [-1, 0]]), 0.5 * np.eye(2)],
                                                          [-0.1 * np.array([[0, 1], [-1, 0]]), 0.5 * np.eye(2)]]))),
]


@pytest.mark.parametrize("method,opts,eta,expected", CASES)
def test_spectral_radius_from_the_method_itself_matches_the_closed_form(method, opts, eta, expected):
    assert games.spectral_radius(method, eta, **opts) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method,opts,eta,expected", CASES)
def test_measured_decay_of_each_orbit_agrees_with_its_radius(method, opts, eta, expected):
    z = games.trajectory(method, eta, 400, **opts)
    assert games.decay_rate(z, skip=100) == pytest.approx(expected, rel=2e-4)


@pytest.mark.parametrize("eta,converges", [(0.1, True), (0.5, True), (0.7, False)])
def test_optimistic_converges_for_small_steps_only(eta, converges):
    rho = games.spectral_radius("optimistic", eta)
    z = games.trajectory("optimistic", eta, 300)
    assert (rho < 1) is converges
    assert bool(np.linalg.norm(z[-1]) < np.linalg.norm(z[0])) is converges


def test_negative_momentum_with_alternating_updates_converges_positive_does_not():
    assert games.spectral_radius("momentum", 0.3, beta=-0.3, order="alternating") < 1
    assert games.spectral_radius("momentum", 0.3, beta=0.3, order="alternating") > 1
    assert games.spectral_radius("momentum", 0.3, beta=0.3) > games.spectral_radius("simultaneous", 0.3)


def test_continuous_flow_is_a_circle():
    f = games.flow(400, 0.05, start=(1.0, 0.5))
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), math.hypot(1.0, 0.5), rtol=1e-8)


def test_scale_and_separate_step_sizes():
    # f = a x y with steps (eta_x, eta_y): simultaneous map [[1, -a eta_x], [a eta_y, 1]]
    expected = radius_of([[1, -2 * 0.1], [2 * 0.05, 1]])
    assert games.spectral_radius("simultaneous", 0.1, a=2.0, lr_y=0.05) == pytest.approx(expected)


def test_dirac_gan_unregularised_spirals_out_alternating_orbits_r1_converges():
    # near the equilibrium the standard loss is the xy game scaled by f'(0) = 1/2
    assert games.spectral_radius("simultaneous", 0.1, "dirac") == pytest.approx(math.sqrt(1 + 0.05 ** 2))
    assert games.spectral_radius("alternating", 0.1, "dirac") == pytest.approx(1.0, abs=1e-12)
    # R1, gamma = 1: psi' = psi - eta (theta / 2 + gamma psi): map [[1, 0.05], [-0.05, 0.9]] (simultaneous)
    r1 = games.spectral_radius("simultaneous", 0.1, "dirac", r1_gamma=1.0)
    assert r1 == pytest.approx(radius_of([[1, 0.05], [-0.05, 0.9]]), rel=1e-10) and r1 < 1
    start = (0.5, 0.5)
    r = lambda z: np.linalg.norm(z, axis=1)
    assert r(games.trajectory("simultaneous", 0.1, 2000, start, "dirac"))[-1] > 1.2 * math.hypot(*start)
    alt = r(games.trajectory("alternating", 0.1, 2000, start, "dirac"))
    assert 0.8 * math.hypot(*start) < alt.min() and alt.max() < 1.3 * math.hypot(*start)
    assert r(games.trajectory("simultaneous", 0.1, 2000, start, "dirac", r1_gamma=1.0))[-1] < 1e-6


@pytest.mark.parametrize("loss", ["standard", "nonsaturating", "wasserstein"])
@pytest.mark.parametrize("r1_gamma, noise", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (1.0, 1.0)])
def test_dirac_field_in_closed_form_is_the_gradient_of_its_objectives(loss, r1_gamma, noise):
    """The closed-form field equals autograd of the objectives it states (and so does its
    Jacobian, which the spectral radii use): V = E f(psi e) + E f(-psi (theta + e)) - gamma/2 psi^2."""
    from toylab.games import plane
    eps, w = plane._hermite(noise) if noise else (torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    f = (lambda t: t) if loss == "wasserstein" else torch.nn.functional.logsigmoid

    def V(theta, psi):
        return (w * f(psi * eps)).sum() + (w * f(-psi * (theta + eps))).sum() - 0.5 * r1_gamma * psi ** 2

    def g_loss(theta, psi):
        if loss == "nonsaturating":
            return -(w * torch.nn.functional.logsigmoid(psi * (theta + eps))).sum()
        return V(theta, psi)

    def reference(z):
        return torch.stack([torch.func.grad(g_loss, 0)(z[0], z[1]), -torch.func.grad(V, 1)(z[0], z[1])])
    F = plane.dirac_field(loss, r1_gamma, noise)
    for z in torch.tensor(np.random.default_rng(0).normal(scale=3.0, size=(20, 2))):
        torch.testing.assert_close(F(z), reference(z), atol=1e-12, rtol=1e-12)
    zero = torch.zeros(2, dtype=torch.float64)
    torch.testing.assert_close(torch.func.jacrev(F)(zero), torch.func.jacrev(reference)(zero), atol=1e-12, rtol=0)


def test_dirac_gan_instance_noise_and_losses():
    assert games.spectral_radius("simultaneous", 0.1, "dirac", noise=1.0) < 1
    assert games.spectral_radius("simultaneous", 0.1, "dirac", loss="wasserstein") == pytest.approx(math.sqrt(1.01))
    assert games.spectral_radius("simultaneous", 0.1, "dirac", loss="nonsaturating") == pytest.approx(
        math.sqrt(1 + 0.05 ** 2))


def test_several_d_steps_per_g_step():
    """k y-steps after each x-step on xy: the map [[1, -eta], [k eta, 1 - k eta^2]] (det 1)."""
    for k, eta in ((5, 0.1), (3, 0.5), (5, 0.9)):
        expected = radius_of([[1, -eta], [k * eta, 1 - k * eta ** 2]])
        assert games.spectral_radius("alternating", eta, d_steps=k) == pytest.approx(expected, rel=1e-10)
    assert games.spectral_radius("alternating", 0.9, d_steps=5) > 1      # too many D steps at a large eta


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="method: 'newton'; allowed: simultaneous"):
        games.trajectory("newton", 0.1, 10)
    with pytest.raises(ValueError, match="game: 'go'"):
        games.trajectory("simultaneous", 0.1, 10, game="go")
    with pytest.raises(ValueError, match="loss: 'x'"):
        games.make_field("dirac", loss="x")


def test_diverging_orbit_stops_at_non_finite_values():
    z = games.trajectory("simultaneous", 5.0, 2000)
    assert np.isnan(z[-1]).all() and np.isfinite(z[0]).all()


def test_cli_writes_figure_and_animations(tmp_path, capsys):
    import imageio.v3 as iio
    import imageio_ffmpeg
    assert main(["xy", "--methods", "simultaneous,alternating,extragradient", "--lr", "0.1", "--steps", "300",
                 "--out", str(tmp_path / "orbit.png")]) == 0
    out = capsys.readouterr().out
    assert "simultaneous: spectral radius 1.004988" in out
    assert iio.imread(tmp_path / "orbit.png").shape[1] > 1000
    assert main(["xy", "--steps", "20", "--fps", "10", "--out", str(tmp_path / "orbit.gif")]) == 0
    frames = iio.imread(tmp_path / "orbit.gif", index=None)
    assert frames.shape[0] == 21
    assert main(["xy", "--game", "dirac", "--methods", "alternating", "--steps", "15",
                 "--out", str(tmp_path / "d.mp4")]) == 0
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "d.mp4"))
    meta = next(reader)
    assert meta["size"] == (720, 720) and sum(1 for _ in reader) == 16
    for vector in ("orbit.pdf", "orbit.svg"):
        assert main(["xy", "--steps", "50", "--out", str(tmp_path / vector)]) == 0
    assert (tmp_path / "orbit.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "orbit.svg").read_bytes()[:2000]
    assert main(["xy", "--methods", "bogus", "--out", str(tmp_path / "x.png")]) == 2
    assert "allowed: simultaneous" in capsys.readouterr().err


def test_radius_map_marks_negative_momentum_region():
    from toylab import gameviz
    fig, rho = gameviz.radius_map("momentum", np.linspace(0.05, 1.0, 12), "beta", np.linspace(-0.8, 0.8, 9),
                                  order="alternating")
    assert rho.shape == (9, 12)
    assert (rho[:4] < 1).any() and (rho[-3:] > 1).all()     # some negative beta converge, large positive never


def test_one_game_config_checks_every_face_naming_the_field():
    """GameConfig is the one check of trajectory(), the CLI's xy and the dashboard's xy tab: a
    typo in an option, a value out of range or a wrong word each names the field and what is
    allowed; a good config gives the options as trajectory() takes them."""
    bad = {"r1_gamma": (-1, "r1_gamma: must be a finite number in [0, 1000] (got -1)"),
           "beta": (1.0, "beta: must be a finite number in (-1, 1)"),
           "d_steps": (2.5, "d_steps: must be a whole number from 1 to 100"),
           "lr": (float("inf"), "lr: must be a step size in (0, 10]"),
           "order": ("random", "order: 'random'; allowed: simultaneous, alternating"),
           "methods": ("simultaneous,newton", "methods: 'newton'; allowed: simultaneous, alternating, optimistic"),
           "start": ((1.0, 2e3), "start: both coordinates must be finite numbers in [-1000, 1000]"),
           "gama": (1.0, "gama: unknown option; allowed: a, loss, r1_gamma, noise, gamma, beta, order, d_steps")}
    for field, (value, message) in bad.items():
        with pytest.raises(ValueError) as err:
            games.GameConfig(**{field: value})
        assert str(err.value).startswith(message), (field, str(err.value))
    cfg = games.GameConfig(methods="extragradient, optimistic", game="dirac", lr=0.2, beta=-0.3, d_steps=3)
    assert cfg.methods == ("extragradient", "optimistic") and cfg.options["beta"] == -0.3
    assert cfg.options["d_steps"] == 3 and cfg.game_options == {"a": 1.0, "loss": "standard", "r1_gamma": 0.0,
                                                                  "noise": 0.0}
    with pytest.raises(ValueError, match="gama: unknown option"):
        games.spectral_radius("consensus", 0.1, gama=1.0)


def test_orbits_that_coincide_to_the_eye_are_drawn_dashed_over_solid_and_said():
    """At η = 0.1 on xy, extragradient and optimistic differ by 1 % of the orbit's radius (both are
    z - ηF(z) plus an O(η²) correction; ρ = 0.99504 and 0.99494): one hid the other. The later one is
    dashed over the earlier's solid line, its legend and a note say so; at η = 0.3 (10 % apart) neither."""
    from toylab.pictures.gameviz import COINCIDE, coinciding, orbit_figures
    from toylab.pictures.panels import get_theme
    paths = {m: games.trajectory(m, 0.1, 200, (1.0, 1.0), "xy") for m in ("simultaneous", "extragradient", "optimistic")}
    gap = np.linalg.norm(paths["extragradient"] - paths["optimistic"], axis=1).max()
    assert 0.005 < gap / np.linalg.norm(paths["extragradient"], axis=1).max() < 0.015
    assert coinciding(paths, 4.0) == {"optimistic": "extragradient"}
    assert coinciding(paths, gap / COINCIDE * 0.99) == {}               # just too far apart for this plot
    orbit, dist, radii = orbit_figures(["simultaneous", "extragradient", "optimistic"], 0.1, 200, theme="dark")
    lines = {t.name: t for t in orbit.data if t.mode == "lines" and t.name}
    assert lines["optimistic (dashed: on extragradient's orbit)"].line.dash == "dash"
    assert lines["extragradient"].line.dash is None and lines["simultaneous"].line.dash is None
    assert "optimistic lies on extragradient's orbit" in orbit.layout.annotations[0].text
    assert [t.line.dash for t in dist.data if t.name and t.name.startswith("optimistic")] == ["dash"]
    # the dark theme reaches both figures
    dark = get_theme("dark")
    assert orbit.layout.paper_bgcolor == dist.layout.paper_bgcolor == dark.bg and orbit.layout.font.color == dark.fg
    far, _, _ = orbit_figures(["extragradient", "optimistic"], 0.3, 200)
    assert not far.layout.annotations and all(t.line.dash is None for t in far.data if t.name in ("extragradient", "optimistic"))
