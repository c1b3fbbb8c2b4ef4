"""Day 08's caption-conditioned video DiT: zero-initialised caption paths, padding and
caption dropout, guidance over captions with the null caption."""

import pytest
import torch

from course_lib.data.captions import NULL_CAPTION, tokenize
from course_lib.diffusion import ddpm
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.text_cond import NULL_ID
from course_lib.diffusion.video_dit import VideoDiT, VideoDiTConfig, sample_video, video_loss
from course_lib.nn.text_encoder import TextEncoderConfig
from tests.smoke import as_if_trained

TEXT = TextEncoderConfig(dim=32, depth=1, heads=4)
CAPTIONS = ["a 3 moving up-left", "a 7 moving down"]


def _model(attention="factorized", dropout=0.1):
    torch.manual_seed(0)
    cfg = VideoDiTConfig(frames=4, height=8, width=8, patch=(1, 4, 4), dim=32, depth=2, heads=4,
                         attention=attention, class_dropout=dropout, text=TEXT)
    return VideoDiT(cfg).eval()


@pytest.mark.parametrize("attention", ["spatial", "factorized", "full"])
def test_untrained_caption_paths_change_nothing_and_trained_ones_do(attention):
    model = _model(attention)
    x, t = torch.randn(2, 1, 4, 8, 8), torch.tensor([100, 700])
    ids, _ = tokenize(CAPTIONS)
    with torch.no_grad():
        assert torch.equal(model(x, t, ids), model(x, t, ids.flip(0)))     # the caption is ignored, exactly
        as_if_trained(model)
        assert not torch.allclose(model(x, t, ids), model(x, t, ids.flip(0)))


def test_caption_dropout_gives_the_null_caption_and_only_while_training():
    model = as_if_trained(_model(dropout=1.0))
    x, t = torch.randn(2, 1, 4, 8, 8), torch.tensor([100, 700])
    ids, _ = tokenize(CAPTIONS)
    null = tokenize([NULL_CAPTION] * 2)[0]
    assert null.unique().tolist() == [NULL_ID]
    with torch.no_grad():
        assert not torch.allclose(model(x, t, ids), model(x, t, null))     # eval: no dropout
        model.train()                                                   # dropout 1: every caption -> null
        dropped = model(x, t, ids)
        model.eval()
        torch.testing.assert_close(dropped, model(x, t, null))


def test_guidance_over_captions_uses_the_null_caption_and_sampling_runs():
    model = as_if_trained(_model())
    x, t = torch.randn(2, 1, 4, 8, 8), torch.tensor([300, 300])
    ids, _ = tokenize(CAPTIONS)
    null = tokenize([NULL_CAPTION] * 2)[0]
    with torch.no_grad():
        guided = ddpm.guided(model, ids, model.null_label, 3.0)(x, t)
        expected = model(x, t, null) + 3.0 * (model(x, t, ids) - model(x, t, null))
    torch.testing.assert_close(guided, expected, atol=1e-5, rtol=1e-5)
    schedule = make_schedule("cosine", 1000)
    videos = sample_video(model, ids, schedule, steps=2, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (2, 1, 4, 8, 8) and torch.isfinite(videos).all()
    loss = video_loss(model.train(), (videos, ids), schedule, kind="x0")
    loss.backward()
    assert model.cross_blocks[0].attn.out_proj.weight.grad.abs().sum() > 0


def test_caption_model_bad_inputs_are_named():
    model = _model()
    with pytest.raises(ValueError, match=r"labels \(caption ids\) must be"):
        model(torch.randn(2, 1, 4, 8, 8), torch.tensor([1, 2]), torch.tensor([3, 7]))


def test_the_caption_model_starts_as_day05s_unconditional_model():
    from course_lib.diffusion.text_video_train import TEXT_VIDEO_PRESETS, new_text_video_model
    from course_lib.diffusion.video_dit_train import new_video_dit

    recipe = TEXT_VIDEO_PRESETS["cpu"]
    base = as_if_trained(new_video_dit(recipe.base).eval())
    model = new_text_video_model(recipe, base).eval()
    x, t = torch.randn(2, 1, 8, 12, 12), torch.tensor([100, 800])
    still = torch.randn_like(x)                                  # the preset also takes a still: weights at 0
    with torch.no_grad():
        assert torch.equal(model(x, t, tokenize(CAPTIONS)[0], cond=still),
                           base(x, t, torch.full((2,), base.null_label)))
        scratch = new_text_video_model(recipe).eval()            # pretrained=False: no base weights
        assert torch.equal(scratch(x, t, tokenize(CAPTIONS)[0], cond=still), torch.zeros_like(x))   # adaLN-Zero


def test_captioned_clips_move_the_captions_way_and_hold_out_their_pairs(tmp_path, monkeypatch):
    from course_lib.data.captions import CaptionedClipsSpec, held_out_mask

    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path))
    spec = CaptionedClipsSpec(clips=300)
    train, test = spec.load("train"), spec.load("test")
    assert not held_out_mask(train).any() and held_out_mask(test).any() and len(train) < 300
    span = spec.canvas - 8                                   # the digit is 8 px: it travels span pixels freely
    for data in (train, test):
        moved = (data.positions[:, span] - data.positions[:, 0]).sign()
        assert torch.equal(moved, data.velocities.sign())    # every clip moves its caption's way at first


def test_sdedit_starts_at_the_strengths_timestep_and_strength_zero_is_the_clip(monkeypatch):
    from course_lib.diffusion import video_dit

    model = as_if_trained(_model())
    schedule = make_schedule("cosine", 1000)
    clips = torch.rand(2, 1, 4, 8, 8) * 2 - 1
    ids, _ = tokenize(CAPTIONS)
    assert torch.equal(video_dit.edit_video(model, clips, ids, schedule, strength=0.0), clips)
    seen = []
    real_step = ddpm.ddim_step
    monkeypatch.setattr(ddpm, "ddim_step", lambda pred, x, t, t_prev, *a, **k: (seen.append(int(t[0])),
                                                                                 real_step(pred, x, t, t_prev, *a, **k))[1])
    out = video_dit.edit_video(model, clips, ids, schedule, strength=0.5, steps=10,
                               generator=torch.Generator().manual_seed(0))
    assert seen == [500, 499, 399, 299, 199, 99] and out.shape == clips.shape    # t_s, then the grid below it
    again = video_dit.edit_video(model, clips, ids, schedule, strength=0.5, steps=10,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="strength"):
        video_dit.edit_video(model, clips, ids, schedule, strength=1.5)
    with pytest.raises(ValueError, match="start must be an int"):
        ddpm.sample_ddim(lambda x, t: x, (1, 2), schedule, steps=2, start=1000, progress=False)


def test_first_frame_condition_and_the_image_to_video_model():
    from dataclasses import replace

    from course_lib.diffusion.text_video_train import TEXT_VIDEO_PRESETS, captioned_loss, new_text_video_model
    from course_lib.diffusion.video_dit import first_frame_condition
    from course_lib.diffusion.video_dit_train import new_video_dit

    clips = torch.rand(3, 1, 8, 12, 12) * 2 - 1
    cond = first_frame_condition(clips)
    assert torch.equal(cond, clips[:, :, :1].expand_as(clips))
    noisy = first_frame_condition(clips, torch.tensor([0.0, 0.1, 0.0]), torch.Generator().manual_seed(0))
    assert torch.equal(noisy[0], cond[0]) and 0.05 < (noisy[1] - cond[1]).std() < 0.15
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        first_frame_condition(clips, -1.0)

    recipe = replace(TEXT_VIDEO_PRESETS["cpu"], first_frame=True)
    base = as_if_trained(new_video_dit(recipe.base).eval())
    model = new_text_video_model(recipe, base).eval()
    assert model.config.cond_channels == 1
    x, t = torch.randn(3, 1, 8, 12, 12), torch.tensor([100, 500, 800])
    ids, _ = tokenize(CAPTIONS + ["a 1 moving right"])
    with torch.no_grad():                                  # the still's channel starts at zero weight
        assert torch.equal(model(x, t, ids, cond=cond), base(x, t, torch.full((3,), base.null_label)))
    with pytest.raises(ValueError, match="pass cond"):
        model(x, t, ids)
    with pytest.raises(ValueError, match="no condition channels"):
        base(x, t, torch.zeros(3, dtype=torch.long), cond=cond)
    loss = captioned_loss(model.train(), (clips, ids), make_schedule("cosine", 1000), recipe,
                          generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert model.patch_embed.proj.weight.grad[:, 1:].abs().sum() > 0    # the still's weights learn


def test_first_layout_puts_the_still_in_frame_zero_only():
    from course_lib.diffusion.video_dit import first_frame_condition

    clips = torch.rand(2, 1, 8, 12, 12) * 2 - 1
    first = first_frame_condition(clips, layout="first")
    assert torch.equal(first[:, :, 0], clips[:, :, 0]) and not first[:, :, 1:].any()
    # the same noise as "repeat" in frame 0: the layouts differ only in the other frames
    repeat = first_frame_condition(clips, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(first_frame_condition(clips, 0.1, torch.Generator().manual_seed(0), layout="first")[:, :, 0],
                       repeat[:, :, 0])
    with pytest.raises(ValueError, match="layout"):
        first_frame_condition(clips, layout="last")


def test_image_to_video_starts_as_the_caption_model_it_is_fine_tuned_from():
    from dataclasses import replace

    from course_lib.diffusion.text_video_train import (IMAGE_TO_VIDEO_PRESETS, TEXT_VIDEO_PRESETS, TextVideoRecipe,
                                                       new_text_video_model)
    from course_lib.diffusion.video_dit import first_frame_condition
    from course_lib.diffusion.video_dit_train import new_video_dit

    text, i2v = TEXT_VIDEO_PRESETS["cpu"], IMAGE_TO_VIDEO_PRESETS["cpu"]
    assert i2v.start_from == text and i2v.first_frame and i2v.key() != text.key()
    caption_model = as_if_trained(new_text_video_model(text, as_if_trained(new_video_dit(text.base))).eval())
    model = new_text_video_model(i2v, caption_model).eval()
    x, t = torch.randn(3, 1, 8, 12, 12), torch.tensor([100, 500, 800])
    ids, _ = tokenize(CAPTIONS + ["a 1 moving right"])
    cond = first_frame_condition(torch.rand(3, 1, 8, 12, 12), layout=i2v.still_layout)
    with torch.no_grad():                                  # every weight copied, the still's channel too
        assert torch.equal(model(x, t, ids, cond=cond), caption_model(x, t, ids, cond=cond))
    t2v = replace(text, first_frame=False)                 # from a model without a still: its channel at 0
    plain = as_if_trained(new_text_video_model(t2v, as_if_trained(new_video_dit(text.base))).eval())
    with torch.no_grad():
        assert torch.equal(new_text_video_model(replace(i2v, start_from=t2v), plain).eval()(x, t, ids, cond=cond),
                           plain(x, t, ids))
    with pytest.raises(ValueError, match="start_from must be"):
        replace(i2v, architecture="unet")
    with pytest.raises(ValueError, match="start_from must have"):
        replace(i2v, text=replace(text.text, depth=3))
    with pytest.raises(ValueError, match="still_layout"):
        TextVideoRecipe(still_layout="middle")
