"""Day 19's streaming synthesis: chunked vocoding with enough context equals the whole
utterance's wave; without context the seams differ."""

import pytest
import torch

from course_lib.speech.vocoder import NeuralVocoder, VocoderConfig
from course_lib.streaming.tts import context_frames, stream_vocode


@pytest.fixture(scope="module")
def vocoder():
    torch.manual_seed(0)
    return NeuralVocoder(VocoderConfig(dim=32, depth=2)).eval()


@pytest.mark.parametrize("chunk_frames", [1, 7, 25, 200])
def test_chunks_with_context_equal_the_whole_wave(vocoder, chunk_frames):
    mel = torch.randn(80, 61)
    with torch.no_grad():
        whole = vocoder(mel[None])[0]
    chunks = list(stream_vocode(vocoder, mel, chunk_frames))
    assert all(len(c) == chunk_frames * vocoder.config.hop_length for c in chunks[:-1])
    streamed = torch.cat(chunks)
    assert streamed.shape == whole.shape
    torch.testing.assert_close(streamed, whole.clamp(-1, 1), atol=1e-5, rtol=0)


def test_context_is_what_the_receptive_field_needs(vocoder):
    c = vocoder.config
    assert context_frames(vocoder) == -(-c.n_fft // (2 * c.hop_length)) + (c.kernel // 2) * (c.depth + 1)
    mel = torch.randn(80, 61)
    with torch.no_grad():
        whole = vocoder(mel[None])[0].clamp(-1, 1)
    short = torch.cat(list(stream_vocode(vocoder, mel, 10, context=0)))
    assert (short - whole).abs().max() > 1e-3                   # seams without context
    with pytest.raises(ValueError, match="chunk_frames"):
        next(stream_vocode(vocoder, mel, 0))
    with pytest.raises(ValueError, match="log_mel"):
        next(stream_vocode(vocoder, torch.randn(80), 10))


def test_phrases_cut_every_n_words():
    from course_lib.streaming.tts import phrases

    assert phrases("a b c d e", 2) == ["a b", "c d", "e"]
    assert phrases("a b", 5) == ["a b"]
    with pytest.raises(ValueError, match="words_per_phrase"):
        phrases("a", 0)
