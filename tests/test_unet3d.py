"""Day 08's factorized 3D U-Net: frames meet only in the temporal attention, it starts at
zero, and it plugs into the samplers and guidance like the caption video DiT."""

import pytest
import torch

from course_lib.data.captions import tokenize
from course_lib.diffusion import ddpm
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.unet3d import UNet3D, UNet3DConfig
from course_lib.diffusion.video_dit import sample_video, video_loss
from course_lib.nn.text_encoder import TextEncoderConfig
from tests.smoke import as_if_trained

CONFIG = UNet3DConfig(frames=4, height=8, width=8, channels=(16, 32), heads=4,
                      text=TextEncoderConfig(dim=32, depth=1, heads=4))


def test_frames_meet_only_in_the_temporal_attention():
    torch.manual_seed(0)
    model = as_if_trained(UNet3D(CONFIG))
    x, t = torch.randn(1, 1, 4, 8, 8), torch.tensor([300])
    ids, _ = tokenize(["a 3 moving left"])
    x2 = x.clone()
    x2[:, :, 2] += 1.0                                              # change frame 2 only
    with torch.no_grad():
        changed = (model(x2, t, ids) - model(x, t, ids)).abs().amax(dim=(0, 1, 3, 4))
        assert (changed > 1e-4).all()                               # through temporal attention: every frame
        torch.nn.init.zeros_(model.mid_attn.temporal.out_proj.weight)
        torch.nn.init.zeros_(model.mid_attn.temporal.out_proj.bias)
        changed = (model(x2, t, ids) - model(x, t, ids)).abs().amax(dim=(0, 1, 3, 4))
    assert changed[2] > 1e-4 and torch.equal(changed[[0, 1, 3]], torch.zeros(3))   # without it: frame 2 only


def test_unet_starts_at_zero_and_samples_with_caption_guidance():
    torch.manual_seed(0)
    model = UNet3D(CONFIG).eval()
    x, t = torch.randn(2, 1, 4, 8, 8), torch.tensor([10, 900])
    ids, _ = tokenize(["a 3 moving left", "a 9 moving up-right"])
    with torch.no_grad():
        assert torch.equal(model(x, t, ids), torch.zeros_like(x))   # the output conv starts at zero
    model = as_if_trained(model)
    schedule = make_schedule("cosine", 1000)
    with torch.no_grad():
        null = torch.full_like(ids, model.null_label)
        guided = ddpm.guided(model, ids, model.null_label, 2.0)(x, t)
        torch.testing.assert_close(guided, model(x, t, null) + 2.0 * (model(x, t, ids) - model(x, t, null)),
                                   atol=1e-5, rtol=1e-5)
    videos = sample_video(model, ids, schedule, steps=2, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (2, 1, 4, 8, 8) and torch.isfinite(videos).all()
    video_loss(model.train(), (videos, ids), schedule).backward()
    assert model.mid_attn.cross.attn.out_proj.weight.grad.abs().sum() > 0


def test_unet_bad_inputs_are_named():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet3DConfig(height=10, channels=(16, 32, 32))
    with pytest.raises(ValueError, match="multiples of 8"):
        UNet3DConfig(channels=(12, 24))
    model = UNet3D(CONFIG)
    with pytest.raises(ValueError, match=r"labels \(caption ids\) must be"):
        model(torch.randn(1, 1, 4, 8, 8), torch.tensor([1]), torch.tensor([3]))
