"""Smoke functions (tests/smoke.py) for the video presets: the pixel video DiT (and its
full-attention variant), the latent video model with its VAE, and day 18's video–text
model."""

from dataclasses import replace
from functools import partial

import torch

from course_lib.diffusion import ddpm
from course_lib.diffusion.latent import sample_latent_videos
from course_lib.diffusion.latent_train import (TrainedLatentImageDiT, TrainedLatentVideo, new_latent_image_dit,
                                               new_latent_video_dit)
from course_lib.diffusion.schedules import make_schedule
from course_lib.diffusion.vae_train import TrainedVAE, new_vae, vae_training_loss
from course_lib.diffusion.video_dit import sample_video, video_loss
from course_lib.diffusion.video_dit_train import new_image_dit, new_video_dit
from course_lib.train import TrainingRun
from tests.smoke import smoke, train_one_step

LABELS = torch.tensor([3, 7])


def _image_stage(model, recipe, frame_shape):
    """One step of an image stage (day 04's conditional loss) on 2 random frames."""
    schedule = make_schedule("cosine", recipe.num_steps)
    loss = partial(ddpm.conditional_loss, schedule=schedule, kind=recipe.prediction)
    train_one_step(model, loss, (torch.randn(2, *frame_shape), LABELS))
    return schedule


def _video_batch(config):
    return torch.randn(2, config.in_channels, config.frames, config.height, config.width), LABELS


@smoke("course_lib.diffusion.video_dit_train.PRESETS")
@smoke("course_lib.diffusion.video_dit_train.FULL_ATTENTION_PRESETS")
def video_dit(recipe):
    c = recipe.image.model
    schedule = _image_stage(new_image_dit(recipe.image), recipe.image, (c.in_channels, c.input_size, c.input_size))
    model = new_video_dit(recipe)
    assert model.config == recipe.model
    if recipe.freeze_spatial:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("temporal_blocks"))
    loss = partial(video_loss, schedule=schedule, rho=recipe.rho, kind=recipe.prediction)
    train_one_step(model, loss, _video_batch(recipe.model))
    out = sample_video(model, LABELS, schedule, steps=1, guidance=3.0, kind=recipe.prediction,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, *_video_batch(recipe.model)[0].shape[1:]) and torch.isfinite(out).all()


@smoke("course_lib.diffusion.latent_train.PRESETS")
def latent_video_dit(recipe):
    vae = new_vae(recipe.vae)
    data = recipe.data
    train_one_step(vae, partial(vae_training_loss, beta=recipe.vae.beta), torch.randn(2, 1, data.canvas, data.canvas))
    c = recipe.image.model
    image = new_latent_image_dit(recipe.image)
    schedule = _image_stage(image, recipe.image, (c.in_channels, c.input_size, c.input_size))
    model = new_latent_video_dit(recipe, image)
    assert model.config == recipe.model
    train_one_step(model, partial(video_loss, schedule=schedule, kind=recipe.prediction), _video_batch(recipe.model))
    run = TrainingRun(history=[])
    trained = TrainedLatentVideo(model.eval(), schedule, run, recipe,
                                 TrainedLatentImageDiT(image.eval(), schedule, run, recipe.image,
                                                       TrainedVAE(vae.eval(), 1.0, run, recipe.vae)), bound=3.0)
    videos = sample_latent_videos(trained, LABELS, steps=1, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (2, 1, data.frames, data.canvas, data.canvas) and torch.isfinite(videos).all()


@smoke("course_lib.video.retrieval_train.RETRIEVAL_PRESETS")
def video_retrieval(recipe):
    from course_lib.data.captions import tokenize
    from course_lib.video.retrieval import VideoTextModel
    from course_lib.video.retrieval_train import retrieval_loss

    c = recipe.model
    model = VideoTextModel(c)
    frames = torch.rand(3, 2, 1, c.canvas, c.canvas) * 2 - 1
    ids, pad = tokenize(["a 3 moving up", "a 4 moving left", "a 3 moving up"])
    same = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=torch.bool)
    train_one_step(model, retrieval_loss, (frames, torch.tensor([0, 4]), ids, pad, same))
    assert model.eval().encode_video(frames, torch.tensor([0, 4])).shape == (3, c.embed_dim)


@smoke("course_lib.video.qa_train.VIDEO_QA_PRESETS")
def video_qa(recipe):
    from course_lib.video.qformer import VideoQA, answer, qa_loss, qa_sequences

    c = recipe.model
    model = VideoQA(c)
    features, index = torch.randn(2, 3, c.frame_dim), torch.tensor([0, 3, 6])
    train_one_step(model, qa_loss, (features, index, *qa_sequences(["describe", "which digit ?"], ["a 3 moving up", "3"])))
    assert len(answer(model, features, index, ["describe", "which digit ?"], max_words=2)) == 2


@smoke("course_lib.streaming.video_model.STREAM_VIDEO_PRESETS")
def stream_video(recipe):
    from course_lib.streaming.video import rollout
    from course_lib.streaming.video_model import TrainedStreamVideo, new_stream_model, stream_loss

    model = new_stream_model(recipe)
    assert model.config == recipe.model
    schedule = make_schedule("cosine", recipe.base.num_steps)
    windows = replace(recipe.data, windows=4).load("train")
    batch = (windows.videos, windows.digits, windows.actions, windows.context)
    train_one_step(model, partial(stream_loss, schedule=schedule, recipe=recipe), batch)
    trained = TrainedStreamVideo(model.eval(), schedule, TrainingRun(history=[]), recipe)
    run = rollout(trained, windows.videos[:2, :, :2], windows.digits[:2, None].expand(2, 10),
                  windows.actions[:2, :1].expand(2, 10), context=2, steps=1, generator=torch.Generator().manual_seed(0))
    assert run.frames.shape == (2, 1, 10, recipe.data.canvas, recipe.data.canvas) and torch.isfinite(run.frames).all()
