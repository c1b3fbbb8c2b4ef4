"""Day 15's residual vector quantization: k-means, EMA codebooks, dead-code restarts,
the straight-through estimator, residual stacking and quantizer dropout."""

import math

import pytest
import torch

from course_lib.audio.rvq import ResidualVQ, VectorQuantizer, bitrate, kmeans


def blobs(n=600, k=6, dim=4, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dim, generator=g) * 3
    labels = torch.arange(n) % k
    return centres[labels] + spread * torch.randn(n, dim, generator=g), centres


def test_bitrate_of_encodec_settings():
    assert bitrate(16000 / 320, 8, 1024) == 4000.0          # 50 frames/s x 8 codebooks x 10 bits
    assert bitrate(75, 2, 1024) == 1500.0                   # EnCodec 24 kHz at 1.5 kbps
    with pytest.raises(ValueError, match="codebook_size"):
        bitrate(50, 8, 0)


def test_kmeans_finds_separated_blobs_like_sklearn():
    from sklearn.cluster import KMeans

    x, centres = blobs()
    ours = kmeans(x, 6, iters=20, generator=torch.Generator().manual_seed(1))
    theirs = torch.tensor(KMeans(6, n_init=10, random_state=0).fit(x.numpy()).cluster_centers_, dtype=torch.float32)
    inertia = lambda c: torch.cdist(x, c).min(1).values.pow(2).sum().item()   # noqa: E731
    assert inertia(ours) <= 1.05 * inertia(theirs)
    assert torch.cdist(centres, ours).min(1).values.max() < 0.05            # every true centre found


def test_nearest_code_and_straight_through_gradient():
    vq = VectorQuantizer(dim=4, codebook_size=16).eval()
    r = torch.randn(50, 4, requires_grad=True)
    q, codes, _ = vq(r)
    assert torch.equal(codes, torch.cdist(r.detach(), vq.codebook).argmin(1))
    torch.testing.assert_close(q.detach(), vq.codebook[codes])   # r + (e - r): e up to rounding
    q.sum().backward()
    assert torch.equal(r.grad, torch.ones_like(r))           # quantization is the identity backward


def test_ema_update_is_the_closed_form():
    torch.manual_seed(0)
    vq = VectorQuantizer(dim=2, codebook_size=3, decay=0.9, eps=0.0, dead_threshold=0.0)
    vq.initialized.fill_(True)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]))
    vq.embed_sum.copy_(vq.codebook)
    r = torch.tensor([[0.1, 0.0], [0.3, 0.2], [5.0, 4.0]])
    vq.train()(r)
    counts = torch.tensor([0.9 + 0.1 * 2, 0.9 + 0.1 * 1, 0.9])
    sums = 0.9 * torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]) + 0.1 * torch.tensor([[0.4, 0.2], [5.0, 4.0],
                                                                                           [0.0, 0.0]])
    torch.testing.assert_close(vq.cluster_size, counts)
    torch.testing.assert_close(vq.codebook, sums / counts[:, None])


def test_dead_code_restarts_raise_codebook_usage():
    x, _ = blobs(n=512, k=32, dim=8, spread=0.3, seed=3)
    usage = {}
    for threshold in (0.0, 0.5):
        torch.manual_seed(0)
        vq = VectorQuantizer(dim=8, codebook_size=64, decay=0.8, dead_threshold=threshold)
        vq.initialized.fill_(True)                         # a bad start: every entry in one corner
        vq.codebook.copy_(torch.randn(64, 8) * 0.01 + 10)
        vq.embed_sum.copy_(vq.codebook)
        for _ in range(30):
            vq.train()(x[torch.randperm(len(x))[:256]])
        usage[threshold] = vq.usage(vq.eval()(x)[1])[0]
    assert usage[0.0] < 0.1 and usage[0.5] >= 0.5, usage       # measured: 3 of 64 entries, all 64
    assert int(vq.restarts) > 0


def test_residual_stack_refines_and_decodes_its_codes():
    torch.manual_seed(0)
    z = torch.randn(4, 50, 8)
    rvq = ResidualVQ(dim=8, num_quantizers=4, codebook_size=32)
    rvq.train()(z)                                           # k-means initialises each level
    rvq.eval()
    errors = []
    for n in range(1, 5):
        out = rvq(z, n=n)
        assert out.codes.shape == (4, n, 50)
        torch.testing.assert_close(rvq.decode(out.codes), out.quantized)
        errors.append((out.quantized - z).pow(2).mean().item())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors          # every codebook helps
    zg = z.clone().requires_grad_(True)
    rvq(zg).quantized.sum().backward()
    assert torch.equal(zg.grad, torch.ones_like(zg))
    with pytest.raises(ValueError, match="n must be"):
        rvq(z, n=5)
    with pytest.raises(ValueError, match="codebooks"):
        rvq.decode(torch.zeros(1, 5, 3, dtype=torch.long))


def test_quantizer_dropout_varies_the_codebooks_only_in_training():
    torch.manual_seed(0)
    rvq = ResidualVQ(dim=4, num_quantizers=6, codebook_size=8, quantizer_dropout=1.0)
    z = torch.randn(2, 10, 4)
    used = {rvq.train()(z).codes.shape[1] for _ in range(40)}
    assert len(used) >= 4 and used <= set(range(1, 7))
    assert rvq.eval()(z).codes.shape[1] == 6
    assert math.isclose(bitrate(50, 6, 8), 900.0)
