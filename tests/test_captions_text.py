"""Day 08's captions as words and the caption encoder: tokenizer round trip, the held-out
(digit, direction) pairs, and the encoder block against torch's own Transformer layer."""

import pytest
import torch
from torch import nn

from course_lib.data import captions as C
from course_lib.data.digits import DIRECTIONS, caption
from course_lib.nn.text_encoder import TextEncoder, TextEncoderConfig
from course_lib.nn.transformer import EncoderBlock

ALL_CAPTIONS = [caption(d, v) for d in range(10) for v in DIRECTIONS]


def test_tokenize_splits_compass_words_and_round_trips():
    ids, pad = C.tokenize(["a 3 moving up-left", "a 7 moving down", C.NULL_CAPTION])
    assert ids.tolist() == [[2, 6, 13, 14, 16], [2, 10, 13, 15, 0], [1, 1, 1, 1, 1]]
    assert pad.tolist() == [[False] * 5, [False] * 4 + [True], [False] * 5]
    ids, _ = C.tokenize(ALL_CAPTIONS)
    assert C.decode(ids) == ALL_CAPTIONS and len(set(map(tuple, ids.tolist()))) == 80
    # word order is visible to the model: "left-up" is another sequence of the same words
    assert C.tokenize(["a 3 moving left-up"])[0].tolist() == [[2, 6, 13, 16, 14]]
    assert TextEncoderConfig().vocab_size == len(C.WORDS) and TextEncoderConfig().max_len == C.MAX_WORDS


def test_held_out_pairs_cover_every_digit_once_and_every_direction():
    assert len(C.HELD_OUT_PAIRS) == 10
    assert sorted(d for d, _ in C.HELD_OUT_PAIRS) == list(range(10))
    assert {name for _, name in C.HELD_OUT_PAIRS} == set(DIRECTIONS.values())
    for d in range(10):
        for velocity, name in DIRECTIONS.items():
            assert C.is_held_out(d, velocity) == ((d, name) in C.HELD_OUT_PAIRS)
            assert C.direction_name(tuple(2 * v for v in velocity)) == name


def test_encoder_block_equals_torchs_pre_norm_transformer_layer():
    torch.manual_seed(0)
    ours = EncoderBlock(32, 4, mlp_ratio=2.0).eval()
    ref = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, activation="gelu",
                                     batch_first=True, norm_first=True).eval()
    with torch.no_grad():
        a = ours.attn
        ref.self_attn.in_proj_weight.copy_(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
        ref.self_attn.out_proj.weight.copy_(a.out_proj.weight)
        ref.self_attn.out_proj.bias.copy_(a.out_proj.bias)
        for mine, theirs in [(ours.mlp[0], ref.linear1), (ours.mlp[2], ref.linear2), (ours.ln1, ref.norm1),
                             (ours.ln2, ref.norm2)]:
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
        x = torch.randn(3, 5, 32)
        pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] + [True] * 4])
        torch.testing.assert_close(ours(x, pad)[~pad], ref(x, src_key_padding_mask=pad)[~pad], atol=1e-5, rtol=1e-5)


def test_text_encoder_ignores_padding_and_pools_real_tokens():
    torch.manual_seed(0)
    enc = TextEncoder(TextEncoderConfig(dim=32, heads=4)).eval()
    ids, pad = C.tokenize(["a 7 moving down", "a 3 moving up-left"])
    with torch.no_grad():
        out = enc(ids, pad)
        junk = ids.clone()
        junk[pad] = 9                                             # other words where the padding is
        assert torch.equal(enc(junk, pad), out)
        alone = enc(ids[:1, :4], pad[:1, :4])                     # the 4-word caption without padding
    torch.testing.assert_close(alone[0], out[0, :4])
    assert out.shape == (2, 5, 32) and torch.equal(out[0, 4], torch.zeros(32))
    torch.testing.assert_close(TextEncoder.pool(out, pad)[0], out[0, :4].mean(0))


def test_caption_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown words"):
        C.tokenize(["a 3 moving sideways"])
    with pytest.raises(ValueError, match="has 6 words"):
        C.tokenize(["a 3 moving up left now"])
    with pytest.raises(ValueError, match="non-empty list of strings"):
        C.tokenize("a 3 moving up")
    with pytest.raises(ValueError, match="velocity must be non-zero"):
        C.direction_name((0, 0))
    enc = TextEncoder(TextEncoderConfig(dim=32, heads=4))
    with pytest.raises(ValueError, match="at least one real token"):
        enc(torch.zeros(1, 5, dtype=torch.long), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="positive int"):
        TextEncoderConfig(depth=0)
