"""Diffusion building blocks against closed forms (DESIGN.md: oracles, not self-checks)."""

import math

import numpy as np
import pytest
import torch

from course_lib.diffusion import ddpm
from course_lib.diffusion.dit import DiT, DiTConfig
from course_lib.diffusion.schedules import cosine_alpha_bar, cosine_betas, linear_betas, make_schedule
from course_lib.nn.embeddings import PatchEmbed2D, patchify, sincos_2d, timestep_embedding, unpatchify


@pytest.fixture(params=["linear", "cosine"])
def schedule(request):
    return make_schedule(request.param, 1000)


def float64_quantities(schedule):
    """alpha_bar_{t-1}, alpha_t, beta_t recomputed in float64 from the betas alone.
    (Differences like 1 - alpha_bar near t = 0 lose digits if taken from float32.)"""
    kind = "cosine" if schedule.betas[0] < 1e-4 else "linear"
    betas = (cosine_betas if kind == "cosine" else linear_betas)(schedule.num_steps)
    alpha_bars = torch.cumprod(1 - betas, 0)
    return torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]]), 1 - betas, betas


def test_linear_schedule_endpoints_and_rescaling():
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    s100 = make_schedule("linear", 100)
    assert s100.betas[0].item() == pytest.approx(1e-3) and s100.betas[-1].item() == pytest.approx(0.2)


def test_cosine_schedule_follows_its_formula():
    T = 1000
    s = make_schedule("cosine", T)
    u = torch.arange(1, T + 1, dtype=torch.float64) / T
    expected = cosine_alpha_bar(u) / cosine_alpha_bar(torch.zeros(1, dtype=torch.float64))
    uncapped = s.betas < 0.999
    torch.testing.assert_close(s.alpha_bars[uncapped].double(), expected[uncapped], rtol=1e-5, atol=1e-7)
    assert s.betas.max() <= 0.999 + 1e-7


def test_posterior_matches_gaussian_conjugacy(schedule):
    """q(x_{t-1} | x_t, x_0) from Bayes' rule with q(x_{t-1}|x_0) and q(x_t|x_{t-1})."""
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([1, 10, 500, 999])
    x0, xt = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    mean, var = ddpm.q_posterior(x0, xt, t, schedule)
    a_prev, alpha, beta = (q[t] for q in float64_quantities(schedule))
    precision = 1 / (1 - a_prev) + alpha / beta
    exp_var = 1 / precision
    exp_mean = exp_var[:, None] * (a_prev.sqrt()[:, None] * x0.double() / (1 - a_prev)[:, None]
                                   + alpha.sqrt()[:, None] * xt.double() / beta[:, None])
    torch.testing.assert_close(var.flatten().double(), exp_var, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(mean.double(), exp_mean, rtol=1e-4, atol=1e-5)


def test_posterior_at_t0_is_x0(schedule):
    x0, xt = torch.randn(2, 5), torch.randn(2, 5)
    mean, var = ddpm.q_posterior(x0, xt, torch.zeros(2, dtype=torch.int64), schedule)
    assert torch.all(var == 0) and torch.allclose(mean, x0)
    assert (schedule.posterior_variance[1:] > 0).all()


def test_q_sample_empirical_moments(schedule):
    g = torch.Generator().manual_seed(0)
    n, t_val = 200_000, 300
    x0 = torch.full((n, 1), 0.7)
    t = torch.full((n,), t_val)
    xt = ddpm.q_sample(x0, t, torch.randn(n, 1, generator=g), schedule)
    a = schedule.alpha_bars[t_val].item()
    assert xt.mean().item() == pytest.approx(math.sqrt(a) * 0.7, abs=0.01)
    assert xt.var().item() == pytest.approx(1 - a, rel=0.02)


def test_parameterisations_round_trip(schedule):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    t = torch.tensor([0, 5, 100, 400, 800, 999])
    xt = ddpm.q_sample(x0, t, eps, schedule)
    v = ddpm.v_from_eps(x0, eps, t, schedule)
    for kind, pred in (("eps", eps), ("x0", x0), ("v", v)):
        x0_hat, eps_hat = ddpm.to_x0_eps(pred, xt, t, schedule, kind)
        torch.testing.assert_close(x0_hat[1:], x0[1:], rtol=1e-3, atol=2e-3)  # t=0: eps barely observable
        torch.testing.assert_close(eps_hat[:-1], eps[:-1], rtol=1e-3, atol=2e-3)


def test_ddim_eta0_is_deterministic_and_inverts_q_sample(schedule):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 8, generator=g).clamp(-1, 1), torch.randn(3, 8, generator=g)
    t = torch.tensor([999, 500, 20])
    xt = ddpm.q_sample(x0, t, eps, schedule)
    to_clean = ddpm.ddim_step(eps, xt, t, torch.full_like(t, -1), schedule, eta=0.0)
    # float32: at t = 999 the cosine schedule's sqrt(alpha_bar) ~ 1e-4 amplifies rounding
    torch.testing.assert_close(to_clean, x0, rtol=1e-3, atol=1e-3)
    t_prev = torch.tensor([600, 100, 0])
    step = ddpm.ddim_step(eps, xt, t, t_prev, schedule, eta=0.0)
    torch.testing.assert_close(step, ddpm.q_sample(x0, t_prev, eps, schedule), rtol=1e-3, atol=1e-3)
    assert torch.equal(step, ddpm.ddim_step(eps, xt, t, t_prev, schedule, eta=0.0))


def test_ddim_eta1_matches_ancestral_variance(schedule):
    """With eta = 1 and consecutive steps, DDIM's sigma^2 equals beta~_t."""
    t = torch.tensor([10, 400, 999])
    x = torch.zeros(3, 1)
    noise = torch.ones(3, 1)
    eps = torch.zeros(3, 1)
    with_noise = ddpm.ddim_step(eps, x, t, t - 1, schedule, eta=1.0, noise=noise)
    without = ddpm.ddim_step(eps, x, t, t - 1, schedule, eta=0.0)
    sigma = (with_noise - without).flatten()
    torch.testing.assert_close(sigma**2, schedule.posterior_variance[t], rtol=1e-3, atol=1e-8)


def test_ancestral_step_mean_variance_and_last_step(schedule):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 5, generator=g).clamp(-1, 1), torch.randn(2, 5, generator=g)
    t = torch.tensor([200, 0])
    xt = ddpm.q_sample(x0, t, eps, schedule)
    z = torch.randn(2, 5, generator=g)
    mean, var = ddpm.q_posterior(x0, xt, t, schedule)
    small = ddpm.ancestral_step(eps, xt, t, schedule, z, variance="small")
    large = ddpm.ancestral_step(eps, xt, t, schedule, z, variance="large")
    torch.testing.assert_close(small[0], mean[0] + var[0].sqrt() * z[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(large[0], mean[0] + schedule.betas[200].sqrt() * z[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(small[1], x0[1], rtol=1e-3, atol=1e-3)   # t = 0: no noise, x_0 itself
    torch.testing.assert_close(large[1], small[1])


def test_cfg_endpoints():
    u, c = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(ddpm.cfg_combine(u, c, 1.0), c, rtol=0, atol=1e-6)   # float rounding only
    assert torch.equal(ddpm.cfg_combine(u, c, 0.0), u)
    torch.testing.assert_close(ddpm.cfg_combine(u, c, 3.0), u + 3 * (c - u))

    def model(x, t, labels):   # a fake conditional model: output depends on the label
        return x + labels[:, None].float()
    labels = torch.tensor([2, 5])
    x, t = torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64)
    torch.testing.assert_close(ddpm.guided(model, labels, 10, 0.0)(x, t), torch.full((2, 3), 10.0))
    torch.testing.assert_close(ddpm.guided(model, labels, 10, 2.0)(x, t),
                               10 + 2 * (labels[:, None].float() - 10).expand(2, 3))


def test_ddim_timesteps():
    assert ddpm.ddim_timesteps(1000, 4) == [999, 749, 499, 249]
    assert ddpm.ddim_timesteps(1000, 4, "leading") == [750, 500, 250, 0]
    assert ddpm.ddim_timesteps(10, 10) == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="sample_steps"):
        ddpm.ddim_timesteps(10, 11)


def test_samplers_recover_a_point_mass():
    """With the exact eps of a point mass at c, every sampler must land on c."""
    schedule = make_schedule("linear", 100)
    c = torch.tensor([0.3, -0.5])

    def exact_eps(x, t):
        return ddpm.eps_from_x0(x, t, c.expand_as(x), schedule)
    g = torch.Generator().manual_seed(0)
    for out in (ddpm.sample_ddpm(exact_eps, (16, 2), schedule, generator=g, progress=False),
                ddpm.sample_ddim(exact_eps, (16, 2), schedule, steps=10, generator=g, progress=False)):
        torch.testing.assert_close(out, c.expand(16, 2), rtol=1e-4, atol=1e-4)


def test_diffusion_errors(schedule):
    with pytest.raises(ValueError, match="t must lie in"):
        ddpm.q_sample(torch.zeros(1, 2), torch.tensor([1000]), torch.zeros(1, 2), schedule)
    with pytest.raises(ValueError, match="t must be a"):
        ddpm.q_sample(torch.zeros(1, 2), torch.tensor([1.0]), torch.zeros(1, 2), schedule)
    with pytest.raises(ValueError, match="noise must have"):
        ddpm.q_sample(torch.zeros(1, 2), torch.tensor([1]), torch.zeros(1, 3), schedule)
    with pytest.raises(ValueError, match="kind"):
        make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="variance"):
        ddpm.ancestral_step(torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor([1]), schedule,
                            torch.zeros(1, 1), variance="medium")


# ---------------------------------------------------------------- embeddings and DiT

def test_timestep_embedding_order_and_values():
    e = timestep_embedding(torch.tensor([0, 3]), 8)
    assert torch.equal(e[0], torch.tensor([1.0] * 4 + [0.0] * 4)), "[cos, sin] order: cos(0)=1 first"
    freqs = 10000 ** (-torch.arange(4) / 4)
    torch.testing.assert_close(e[1], torch.cat([torch.cos(3 * freqs), torch.sin(3 * freqs)]))


def test_sincos_2d_rows_then_columns():
    table = sincos_2d(3, 4, 16)
    assert table.shape == (12, 16)
    assert torch.equal(table[1, :8], table[2, :8]), "same row -> same first half"
    assert torch.equal(table[1, 8:], table[5, 8:]), "same column -> same second half"
    assert not torch.equal(table[0, :8], table[4, :8])


@pytest.mark.parametrize("c, h, w, p", [(1, 16, 16, 2), (3, 8, 12, 4), (2, 6, 6, 3)])
def test_patchify_round_trip_and_patch_embed_is_a_linear_map(c, h, w, p):
    x = torch.randn(2, c, h, w)
    tokens = patchify(x, p)
    assert tokens.shape == (2, (h // p) * (w // p), p * p * c)
    assert torch.equal(unpatchify(tokens, p, c, (h // p, w // p)), x)
    # token 1 is the patch at row 0, column 1
    assert torch.equal(tokens[0, 1].reshape(p, p, c), x[0, :, :p, p:2 * p].permute(1, 2, 0))
    embed = PatchEmbed2D(c, 8, p)
    weight = embed.proj.weight.permute(0, 2, 3, 1).reshape(8, -1)     # (D, p*p*C) in patchify order
    torch.testing.assert_close(embed(x), tokens @ weight.T + embed.proj.bias, rtol=1e-5, atol=1e-5)


def test_untrained_dit_outputs_exactly_zero_and_learns():
    torch.manual_seed(0)
    model = DiT(DiTConfig(input_size=8, patch=2, dim=32, depth=2, heads=2))
    x, t, y = torch.randn(4, 1, 8, 8), torch.randint(0, 1000, (4,)), torch.tensor([0, 1, 2, 10])
    assert torch.equal(model(x, t, y), torch.zeros_like(x))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = (model(x, t, y) - x).square().mean()
    loss.backward()
    opt.step()
    assert model(x, t, y).abs().max() > 0, "after one step the zero-initialised layers must move"


def test_dit_label_dropout_uses_the_null_label():
    model = DiT(DiTConfig(input_size=8, patch=4, dim=16, depth=1, heads=2, class_dropout=1.0))
    labels = torch.tensor([3, 4])
    model.train()
    torch.testing.assert_close(model.y_embedder(labels), model.y_embedder.table.weight[[10, 10]])
    model.eval()
    torch.testing.assert_close(model.y_embedder(labels), model.y_embedder.table.weight[[3, 4]])


def test_dit_shape_errors():
    model = DiT(DiTConfig(input_size=8, patch=2, dim=16, depth=1, heads=2))
    with pytest.raises(ValueError, match=r"x must be \(B, 1, 8, 8\)"):
        model(torch.zeros(1, 1, 16, 16), torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiple of patch"):
        DiT(DiTConfig(input_size=10, patch=4))


def test_mean_pairwise_distance_matches_scipy_and_closed_forms():
    """The diversity score of day 04 against scipy's pdist and two closed forms."""
    from scipy.spatial.distance import pdist

    from course_lib.metrics import mean_pairwise_distance

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(40, 7, generator=g)
    assert mean_pairwise_distance(feats) == pytest.approx(pdist(feats.numpy().astype(np.float64)).mean(), rel=1e-6)
    assert mean_pairwise_distance(torch.ones(5, 3)) == 0.0                       # identical samples: no diversity
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])     # 4 sides of 1, 2 diagonals of sqrt 2
    assert mean_pairwise_distance(square) == pytest.approx((4 + 2 * math.sqrt(2)) / 6)
    assert mean_pairwise_distance(3 * feats) == pytest.approx(3 * mean_pairwise_distance(feats))
    with pytest.raises(ValueError, match="feats must be"):
        mean_pairwise_distance(torch.ones(1, 3))
    with pytest.raises(ValueError, match="feats must be"):
        mean_pairwise_distance(torch.ones(4))


def test_conditional_loss_passes_the_labels(schedule):
    seen = {}

    def model(x, t, labels):
        seen["labels"] = labels
        return torch.zeros_like(x)
    x0, labels = torch.randn(3, 1, 4, 4), torch.tensor([1, 2, 10])
    torch.manual_seed(0)
    loss = ddpm.conditional_loss(model, (x0, labels), schedule)
    assert torch.equal(seen["labels"], labels)
    torch.manual_seed(0)
    assert torch.equal(loss, ddpm.diffusion_loss(lambda x, t: model(x, t, labels), x0, schedule))


def test_extract_checks_the_range_of_cpu_timesteps_only(schedule):
    with pytest.raises(ValueError, match="t must lie in"):
        ddpm.extract(schedule.betas, torch.tensor([0, len(schedule.betas)]), (2, 1))
    # Off the CPU the range check would read t's values back (on a GPU: a sync at every
    # sampling step), so it is skipped. Record the operations extract runs on a tensor
    # that is not on the CPU ("meta": shapes only): no min/max reductions.
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    for device, reads_values in (("cpu", True), ("meta", False)):
        with Record() as record:
            out = ddpm.extract(schedule.betas, torch.tensor([3, 7], device=device), (2, 4, 4))
        assert out.shape == (2, 1, 1)
        assert any("min" in op or "max" in op for op in record.ops) == reads_values, (device, record.ops)


def test_mlp_denoiser_class_dropout_uses_the_null_label():
    from course_lib.diffusion.denoisers import MLPDenoiser, MLPDenoiserConfig
    torch.manual_seed(0)
    m = MLPDenoiser(MLPDenoiserConfig(4, dim=8, depth=1, num_classes=3, class_dropout=1.0))
    x, t, y = torch.randn(5, 4), torch.zeros(5, dtype=torch.long), torch.tensor([0, 1, 2, 0, 1])
    null = torch.full_like(y, m.null_label)
    assert torch.equal(m(x, t, y), m(x, t, null)), "dropout 1.0 in training: every label is the null label"
    m.eval()
    assert not torch.equal(m(x, t, y), m(x, t, null)), "no dropout in eval mode"


@pytest.mark.usefixtures("one_thread")
def test_train_denoiser_and_train_dit_train_then_load(tmp_path, monkeypatch):
    from dataclasses import replace

    from course_lib.diffusion import denoisers_train, dit_train
    from course_lib.train import TrainSettings
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    short = TrainSettings(steps=3, batch_size=8, lr=1e-3)
    for train, recipe, name in ((denoisers_train.train_denoiser, replace(denoisers_train.PRESETS["cpu"], train=short),
                                 "ddpm_digits"),
                                (denoisers_train.train_denoiser, replace(denoisers_train.RING_PRESETS["cpu"],
                                                                         train=short), "ddpm_ring"),
                                (dit_train.train_dit, replace(dit_train.PRESETS["cpu"], train=short), "dit_digits")):
        first = train(recipe, device=torch.device("cpu"), progress=False)
        assert not first.run.cached and len(first.run.history) == 3 and not first.model.training
        assert (tmp_path / "checkpoints" / f"{name}_{recipe.key()}.pt").exists()
        again = train(recipe, device=torch.device("cpu"), progress=False)
        assert again.run.cached and again.run.history == first.run.history
        for a, b in zip(first.model.parameters(), again.model.parameters()):
            assert torch.equal(a, b), "the loaded model is the trained one"


def test_denoiser_recipe_refuses_mismatched_data():
    from course_lib.diffusion.denoisers import MLPDenoiserConfig
    from course_lib.diffusion.denoisers_train import DenoiserRecipe
    with pytest.raises(ValueError, match="data must be one of"):
        DenoiserRecipe(data="faces")
    with pytest.raises(ValueError, match="data_dim must be 2"):
        DenoiserRecipe(data="ring")
    assert DenoiserRecipe(model=MLPDenoiserConfig(data_dim=2), data="ring").data == "ring"
