"""The same diffusion training in one process or in N with torchrun: data parallelism, checked.

    python -m course_lib.diffusion.ddp_demo --out single.pt                      # 1 process
    torchrun --nproc_per_node=2 -m course_lib.diffusion.ddp_demo --out ddp.pt    # 2 processes

Both train a denoiser with `train.fit` on the same sequence of *global* batches; under
torchrun `fit` gives each rank half of every batch and DDP averages the gradients, so
the two runs must end with the same weights (up to float rounding). To make that
testable, every random choice of the diffusion loss (timestep t, noise eps, which
labels are dropped for guidance) is drawn by the data function from a generator seeded
by the step, and travels *in the batch*: a rank's shard carries its own rows' noise.

Tasks: "digits" (day 04's DiT on 8x8 digits; small and fast, used by tests) and
"latent" (the latent video DiT of `latent_train` on scaled VAE latents, passed as a tensor
file {"latents", "labels", "recipe": LatentRecipe}). Rank 0 saves {"state_dict", "history",
"seconds", "world_size", "rows_per_step"} to --out.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import distributed
from course_lib.diffusion import ddpm
from course_lib.diffusion.schedules import NoiseSchedule, make_schedule
from course_lib.runtime import step_generator
from course_lib.train import fit


def fixed_noise_batches(x0: Tensor, labels: Tensor, batch_size: int, num_steps: int, null_label: int,
                        label_dropout: float = 0.1, seed: int = 0) -> Callable[[int], tuple[Tensor, ...]]:
    """step -> global batch (x0, labels, t, noise), every random choice seeded by the step.

    x0 (N, ...) training data, labels (N,). Labels are replaced by `null_label` with
    probability `label_dropout` (classifier-free guidance training) here, not in the model."""
    if len(x0) != len(labels):
        raise ValueError(f"x0 and labels must have one length; got {len(x0)} and {len(labels)}")

    def batch_at(step: int) -> tuple[Tensor, ...]:
        g = step_generator(seed, step)
        idx = torch.randint(0, len(x0), (batch_size,), generator=g)
        y = labels[idx].clone()
        y[torch.rand(batch_size, generator=g) < label_dropout] = null_label
        t = torch.randint(0, num_steps, (batch_size,), generator=g)
        noise = torch.randn((batch_size, *x0.shape[1:]), generator=g)
        return x0[idx], y, t, noise

    return batch_at


def fixed_noise_loss(model: nn.Module, batch: tuple[Tensor, ...], schedule: NoiseSchedule,
                     kind: str = "eps") -> Tensor:
    """The DDPM loss with t and noise taken from the batch: MSE(model(x_t, t, y), target),
    target = eps, x0 or v for `kind`."""
    x0, labels, t, noise = batch
    schedule = schedule.to(x0.device)
    x_t = ddpm.q_sample(x0, t, noise, schedule)
    target = {"eps": noise, "x0": x0}.get(kind)
    if target is None:
        target = ddpm.v_from_eps(x0, noise, t, schedule)
    return F.mse_loss(model(x_t, t, labels), target)


def weight_difference(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    """Largest |a - b| over two state dicts, skipping the attention *key* biases.

    softmax(q . (k + b_k)) = softmax(q . k + q . b_k) and q . b_k is the same for every key,
    so the true gradient of a key bias is exactly 0 and what autograd returns is rounding
    noise; Adam divides it by its own size and turns it into lr-sized steps in a random
    direction. Those parameters differ between any two runs that round differently (and
    change nothing the model computes), so they are left out of the comparison."""
    if a.keys() != b.keys():
        raise ValueError("the state dicts have different parameter names")
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a if not k.endswith("k_proj.bias"))


def digits_task(seed: int) -> tuple[nn.Module, Tensor, Tensor, str]:
    """A 2-block DiT (class dropout off: the data function drops labels) and 8x8 digits."""
    from course_lib.data.digits import load_digits
    from course_lib.diffusion.dit import DiT, DiTConfig

    torch.manual_seed(seed)
    model = DiT(DiTConfig(input_size=8, patch=2, dim=32, depth=2, heads=2, class_dropout=0.0))
    images, labels = load_digits()
    return model, images, labels, "eps"


def latent_task(seed: int, latents_path: str) -> tuple[nn.Module, Tensor, Tensor, str]:
    """The untrained latent video DiT of a `latent_train.LatentRecipe` (class dropout off)
    and the scaled training latents saved with it (day 06 saves them)."""
    from dataclasses import replace

    from course_lib.diffusion.latent import latent_video_dit

    data = torch.load(latents_path, weights_only=False)
    recipe = data["recipe"]
    torch.manual_seed(seed)
    model = latent_video_dit(replace(recipe.image.model, class_dropout=0.0), recipe.data.frames, recipe.time_patch)
    return model, data["latents"], data["labels"], recipe.prediction


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("digits", "latent"), default="digits")
    parser.add_argument("--latents", help="tensor file of the latent task (latents, labels, recipe)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32, help="the GLOBAL batch size")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="where rank 0 saves the result (.pt)")
    args = parser.parse_args(argv)
    if args.task == "latent" and not args.latents:
        parser.error("--task latent needs --latents")

    device = distributed.init(torch.device("cpu"))
    model, x0, labels, kind = (digits_task(args.seed) if args.task == "digits"
                         else latent_task(args.seed, args.latents))
    schedule = make_schedule("cosine", 1000)
    data = fixed_noise_batches(x0, labels, args.batch_size, schedule.num_steps, model.null_label, seed=args.seed)

    def loss_fn(m: nn.Module, batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, int]]:
        # "rows": this rank's rows per step (global batch / world size; the same on every rank)
        return fixed_noise_loss(m, batch, schedule, kind), {"rows": len(batch[0])}

    run = fit(model, loss_fn, data, steps=args.steps, lr=args.lr, device=device, progress=False)
    result = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "history": run.history,
              "seconds": run.seconds, "world_size": distributed.world_size(),
              "rows_per_step": int(max(run.metrics.get("rows", [0])))}
    if distributed.is_main_process():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        torch.save(result, args.out)
        print(f"world size {result['world_size']}: {args.steps} steps of global batch {args.batch_size} "
              f"in {result['seconds']:.1f} s; final loss {run.history[-1]:.4f}")
    distributed.teardown()
    return result


if __name__ == "__main__":
    main()
