"""Smoke functions (tests/smoke.py) for day 15's codec presets."""

import torch

from course_lib.audio.codec import Codec, codec_loss
from tests.smoke import smoke, train_one_step


@smoke("course_lib.audio.codec_train.CODEC_PRESETS")
def codec(recipe):
    hop = recipe.model.hop
    wave = 0.5 * torch.sin(torch.arange(4 * hop) / 7.0).repeat(2, 1)     # (2, 4 hops)
    model = Codec(recipe.model).fit_normalizers(wave)
    train_one_step(model, codec_loss, wave)
    codes = model.eval().encode(wave)
    assert codes.shape == (2, recipe.model.num_quantizers, 4)
    assert model.decode(codes).shape == wave.shape


def _codes_batch(k: int, v: int, n: int = 2, frames: int = 6):
    codes = torch.randint(v, (n, k, frames))
    labels = torch.tensor([0, 5])[:n]
    return codes, labels, torch.tensor([60, -1])[:n], torch.tensor([True, False])[:n], torch.tensor([0.0, -1.0])[:n]


@smoke("course_lib.audio.token_lm_train.TOKEN_LM_PRESETS")
def token_lm(recipe):
    from course_lib.audio.token_lm import TokenLM, sample_codes, token_lm_loss

    c = recipe.model
    model = TokenLM(c)
    batch = _codes_batch(c.num_codebooks, c.codebook_size)
    train_one_step(model, token_lm_loss, batch)
    codes = sample_codes(model, *batch[1:], frames=3, guidance=3.0)
    assert codes.shape == (2, c.num_codebooks, 3)


@smoke("course_lib.audio.token_lm_train.FINE_CODES_PRESETS")
def fine_codes(recipe):
    from course_lib.audio.fine_codes import FineCodes, fill_fine_codes, fine_codes_loss

    c = recipe.model
    model = FineCodes(c)
    batch = _codes_batch(c.num_codebooks, c.codebook_size)
    train_one_step(model, fine_codes_loss, batch)
    codes = fill_fine_codes(model, batch[0][:, :c.coarse], *batch[1:])
    assert codes.shape == batch[0].shape and torch.equal(codes[:, :c.coarse], batch[0][:, :c.coarse])


@smoke("course_lib.audio.timbre_transfer.TIMBRE_TRANSFER_PRESETS")
def timbre_transfer(recipe):
    from course_lib.audio.timbre_transfer import TimbreTransfer, transfer_loss

    c = recipe.model
    model = TimbreTransfer(c)
    z = torch.randn(2, 6, c.latent_dim)
    train_one_step(model, transfer_loss, (z, torch.randn(2, 9, c.latent_dim), z))
    assert model.eval()(z, z[:, :4]).shape == z.shape
    assert recipe.model.latent_dim == recipe.codec.model.latent_dim
