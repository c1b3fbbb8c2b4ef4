"""Consistency and progressive distillation (day 07) on a teacher we know exactly.

The data is a 1-D mixture of two narrow Gaussians, so the teacher's ε — the posterior
mean E[x_0 | x_t] turned into noise — has a closed form: the teacher is *exact*, and
whatever the student gets wrong is the distillation's fault. One DDIM step of that
teacher lands on the data's mean (between the modes); a distilled student in one step
lands on the modes.
"""

import pytest
import torch
from torch import nn

from course_lib.diffusion import consistency as C
from course_lib.diffusion import ddpm
from course_lib.diffusion.schedules import make_schedule
from course_lib.nn.embeddings import timestep_embedding

MODES, WIDTH = torch.tensor([-0.6, 0.6]), 0.08


def exact_teacher(schedule):
    """ε(x_t, t) of the two-Gaussian data, from E[x_0 | x_t] in closed form. x (B, 1)."""
    def eps(x, t):
        a, xd, mu = schedule.alpha_bars[t][:, None].double(), x.double(), MODES.double()
        var = a * WIDTH ** 2 + (1 - a)                              # of x_t given the mode
        resp = torch.softmax(-0.5 * (xd - a.sqrt() * mu) ** 2 / var, dim=1)
        mean_per_mode = mu + a.sqrt() * WIDTH ** 2 / var * (xd - a.sqrt() * mu)
        x0 = (resp * mean_per_mode).sum(1, keepdim=True)
        return ((xd - a.sqrt() * x0) / (1 - a).sqrt()).float()
    return eps


class Student(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(33, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x, t):
        return self.net(torch.cat([x, timestep_embedding(t, 32)], 1))


def on_modes(x):
    """(share of samples within 0.25 of a mode, share of those on the left mode)."""
    near = (x - MODES).abs().min(1).values < 0.25
    left = (x[:, 0] < 0) & near
    return near.float().mean().item(), (left.sum() / near.sum().clamp(min=1)).item()


def test_boundary_scaling_is_lcms_and_exact_at_t0():
    t = torch.tensor([0, 1, 10, 999])
    c_skip, c_out = C.boundary_coefficients(t)
    s = 10.0 * t.double()                     # diffusers' LCMScheduler: timestep_scaling = 10, sigma_data = 0.5
    torch.testing.assert_close(c_skip, (0.25 / (s ** 2 + 0.25)).float())
    torch.testing.assert_close(c_out, (s / (s ** 2 + 0.25).sqrt()).float())
    assert c_skip[0] == 1 and c_out[0] == 0
    # so f(x, 0) is x itself, whatever the network predicts
    x = torch.randn(4, 1)
    wild = lambda x, t: 1e3 * torch.randn_like(x)                   # noqa: E731
    assert torch.equal(C.consistency_function(wild, x, torch.zeros(4, dtype=torch.long), make_schedule()), x)
    # at the last step an ε-network's x̂_0 divides by √ᾱ ≈ 0.006 (linear schedule): clip_x0 bounds it
    late = torch.full((4,), 999, dtype=torch.long)
    assert C.consistency_function(wild, x, late, make_schedule()).abs().max() > 100
    assert C.consistency_function(wild, x, late, make_schedule(), clip_x0=(-1, 1)).abs().max() <= 1


def test_ema_update_is_the_convex_combination():
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = target.weight.detach().clone()
    C.ema_update(target, online, 0.9)
    torch.testing.assert_close(target.weight, 0.9 * before + 0.1 * online.weight.detach())
    with pytest.raises(ValueError, match="decay must be in"):
        C.ema_update(target, online, 1.5)


def test_distilled_student_samples_in_one_step_what_the_teacher_needs_many_for():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    schedule = make_schedule("linear", 1000)
    teacher = exact_teacher(schedule)
    student = Student()
    target = C.ema_copy(student)
    opt = torch.optim.Adam(student.parameters(), lr=2e-3)
    for _ in range(1500):
        x0 = MODES[torch.randint(0, 2, (256,), generator=gen)][:, None] + WIDTH * torch.randn(256, 1, generator=gen)
        loss = C.consistency_distillation_loss(student, target, teacher, x0, schedule, skip=50, generator=gen,
                                               kind="x0")
        opt.zero_grad()
        loss.backward()
        opt.step()
        C.ema_update(target, student, 0.95)

    def draw(sampler, steps):
        return on_modes(sampler(steps, torch.Generator().manual_seed(99)))

    student_at = {k: draw(lambda k, g: C.sample_consistency(student, (2000, 1), schedule, k, generator=g,
                                                               kind="x0"), k) for k in (1, 2)}
    teacher_at = {k: draw(lambda k, g: ddpm.sample_ddim(teacher, (2000, 1), schedule, steps=k, generator=g,
                                                        clip_x0=False, progress=False), k) for k in (1, 2, 50)}
    # Measured over training seeds 0-4: one student step put 56-72 % of samples on a mode
    # (two steps 55-76 %), the teacher 0 % in one or two DDIM steps and 99.6 % in 50.
    assert teacher_at[50][0] > 0.95 and teacher_at[1][0] < 0.05 and teacher_at[2][0] < 0.05
    assert student_at[1][0] > 0.4 and student_at[2][0] > 0.4
    for share, left in student_at.values():
        assert 0.25 < left < 0.75, "both modes must be sampled, not one"


def test_progressive_target_makes_one_step_land_where_two_teacher_steps_do():
    schedule = make_schedule("linear", 1024)
    teacher = exact_teacher(schedule)
    x = torch.randn(6, 1)
    t, t_mid, t_next = (torch.tensor(v) for v in ([1023, 767, 511, 255, 127, 63], [895, 639, 383, 191, 95, 31],
                                                   [767, 511, 255, 127, 63, -1]))
    target = C.progressive_target(teacher, x, t, t_mid, t_next, schedule)
    two = C.teacher_ddim_step(teacher, C.teacher_ddim_step(teacher, x, t, t_mid, schedule), t_mid, t_next, schedule)
    one = ddpm.ddim_step(target, x, t, t_next, schedule, kind="x0")
    torch.testing.assert_close(one, two, rtol=0, atol=1e-5)


def test_progressive_distillation_halves_the_steps_and_keeps_the_quality():
    """8 exact-teacher DDIM steps -> a student at 4, then 2, then 1 step (each round's
    student is the next round's teacher), sampled with plain DDIM."""
    import copy

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    schedule = make_schedule("linear", 1024)
    teacher, teacher_kind, student, found = exact_teacher(schedule), "eps", Student(), {}
    for steps in (4, 2, 1):
        opt = torch.optim.Adam(student.parameters(), lr=2e-3)
        for _ in range(800):
            x0 = MODES[torch.randint(0, 2, (256,), generator=gen)][:, None] + WIDTH * torch.randn(256, 1, generator=gen)
            loss = C.progressive_distillation_loss(student, teacher, x0, schedule, steps, generator=gen, kind="x0",
                                                   teacher_kind=teacher_kind)
            opt.zero_grad()
            loss.backward()
            opt.step()
        found[steps] = on_modes(ddpm.sample_ddim(student, (2000, 1), schedule, steps=steps, kind="x0", clip_x0=False,
                                                 generator=torch.Generator().manual_seed(99), progress=False))
        teacher, teacher_kind = copy.deepcopy(student).eval(), "x0"
    exact = {k: on_modes(ddpm.sample_ddim(exact_teacher(schedule), (2000, 1), schedule, steps=k, clip_x0=False,
                                          generator=torch.Generator().manual_seed(99), progress=False))[0]
             for k in (1, 4, 8)}
    # Measured over seeds 0-2: the exact teacher 77.8 % on a mode at 8 steps, 31.6 % at 4,
    # 0 % at 1; the students 71-76 % at 4, 2 and 1 step.
    assert exact[8] > 0.7 and exact[4] < 0.4 and exact[1] < 0.05
    assert found[4][0] > exact[4] + 0.2 and found[1][0] > 0.5
    assert all(0.25 < left < 0.75 for _, left in found.values()), "both modes must be sampled"


def test_consistency_bad_inputs_are_named():
    schedule = make_schedule("linear", 100)
    with pytest.raises(ValueError, match="skip must be an int"):
        C.consistency_distillation_loss(Student(), Student(), exact_teacher(schedule), torch.zeros(2, 1),
                                        schedule, skip=100)
    with pytest.raises(ValueError, match="steps must be an int"):
        C.sample_consistency(Student(), (2, 1), schedule, steps=0)
    with pytest.raises(ValueError, match="student_steps must be an int"):
        C.progressive_distillation_loss(Student(), exact_teacher(schedule), torch.zeros(2, 1), schedule, 0)
    with pytest.raises(ValueError, match=r"t must be a \(B,\) tensor"):
        C.boundary_coefficients(torch.zeros(2, 2))
