"""Invisible watermarks: spread spectrum in block-DCT images/video and in audio.

A watermark hides an N-bit message in the media itself, keyed by a secret seed, so it
survives re-encoding that strips metadata (and C2PA manifests) away.

Spread spectrum, the idea behind both: bit k in {0, 1} becomes a sign s_k = 2 b_k - 1;
a keyed pseudo-random +/-1 (or noise) pattern p_k, known only to key holders, is added
with a small strength alpha:

    y = x + alpha * sum_k s_k p_k            (embed)
    s_k_hat = sign(<y, p_k>)                 (detect: correlate with the key's pattern)

The host x looks like noise to p_k, so <x, p_k> grows like sqrt(n) while the mark's
own term grows like alpha * n: spreading one bit over n samples buys an SNR of
alpha * sqrt(n) / sigma_x, which is why long patterns survive compression and noise.

Images: the pattern lives in low-frequency 8x8 block-DCT coefficients of the luma
(what JPEG keeps and a 2x downscale does not destroy). Audio: band-limited noise
(300-3000 Hz, what MP3/AAC and a telephone low-pass keep), shaped by the host's loudness
so that quiet passages get a quiet mark.
"""

from __future__ import annotations

import io
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np

BLOCK = 8
# (row, col) frequencies of the 8x8 DCT used: low, but not DC (brightness) and
# below 3/16 cycles/pixel, which a x0.5 resize still carries.
IMAGE_COEFFS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2), (0, 3), (3, 0))
IMAGE_STRENGTH = 3.0          # DCT units (pixel scale 0..255)
AUDIO_BAND_HZ = (300.0, 3000.0)
AUDIO_STRENGTH = 0.1          # watermark-to-host amplitude ratio (about 20 dB SNR)
AUDIO_MAX_LAG = 4096          # samples searched for codec delay


# ------------------------------------------------------------------ shared helpers
def _check_bits(bits) -> np.ndarray:
    bits = np.asarray(bits)
    if bits.ndim != 1 or bits.size == 0 or not np.isin(bits, (0, 1)).all():
        raise ValueError(f"bits must be a non-empty 1-D array of 0/1; got {bits!r}")
    return bits.astype(np.int64)


def random_bits(n_bits: int, seed: int = 0) -> np.ndarray:
    """(n_bits,) int64 message of random 0/1 bits."""
    return np.random.default_rng(seed).integers(0, 2, n_bits)


def bit_accuracy(sent, received) -> float:
    """Fraction of bits equal, in [0, 1]."""
    sent, received = np.asarray(sent), np.asarray(received)
    return float((sent == received).mean())


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / MSE)."""
    mse = np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak ** 2 / mse))


def snr(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio in dB of `test` against `reference` (same length)."""
    reference = np.asarray(reference, np.float64)
    noise = np.asarray(test, np.float64) - reference
    return float(10 * np.log10(np.sum(reference ** 2) / max(np.sum(noise ** 2), 1e-20)))


# ------------------------------------------------------------------ one bit, plainly
def chip_sequence(key: int, n: int) -> np.ndarray:
    """(n,) keyed pseudo-random +/-1 chips: the pattern a key holder can regenerate."""
    return np.random.default_rng(key).choice([-1.0, 1.0], size=n)


def embed_bit(host: np.ndarray, bit: int, key: int, strength: float) -> np.ndarray:
    """y = x + strength * s * c, with s = +1 for bit 1, -1 for bit 0 and c the chips.

    host: (n,) float values (DCT coefficients, samples...). Returns (n,) float64.
    """
    host = np.asarray(host, np.float64)
    sign = 1.0 if bit else -1.0
    return host + strength * sign * chip_sequence(key, len(host))


def detect_bit(received: np.ndarray, key: int) -> int:
    """1 if the correlation <y, c> with the key's chips is positive, else 0."""
    received = np.asarray(received, np.float64)
    return int(received @ chip_sequence(key, len(received)) > 0)


# ------------------------------------------------------------------------ images
def dct_matrix(n: int = BLOCK) -> np.ndarray:
    """(n, n) orthonormal DCT-II matrix D: a block's coefficients are D @ X @ D.T."""
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d


def _blocks(channel: np.ndarray) -> np.ndarray:
    """(H, W) -> (H/8, W/8, 8, 8) view of the image's blocks (H, W multiples of 8)."""
    h, w = channel.shape
    return channel.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(0, 2, 1, 3)


def _unblocks(blocks: np.ndarray) -> np.ndarray:
    nh, nw = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(nh * BLOCK, nw * BLOCK)


def _luma(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float64)
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _image_pattern(shape: tuple[int, int], n_bits: int, key: int):
    """Keyed layout for an (H, W) image: which bit each (block, coefficient) slot
    carries, (nh, nw, n_coeffs) ints, and its chip sign, (nh, nw, n_coeffs) +/-1."""
    nh, nw = shape[0] // BLOCK, shape[1] // BLOCK
    n_slots = nh * nw * len(IMAGE_COEFFS)
    if n_slots < 8 * n_bits:
        raise ValueError(f"image {shape} has {n_slots} slots: too small for {n_bits} bits")
    rng = np.random.default_rng(key)
    owner = rng.permutation(np.arange(n_slots) % n_bits).reshape(nh, nw, len(IMAGE_COEFFS))
    chips = rng.choice([-1.0, 1.0], size=owner.shape)
    return owner, chips


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"image must be (H, W) or (H, W, 3) with values 0..255; "
                         f"got shape {image.shape}")
    if image.shape[0] < BLOCK or image.shape[1] < BLOCK:
        raise ValueError(f"image must be at least {BLOCK}x{BLOCK}; got {image.shape[:2]}")
    return image


def _host_coefficients(y: np.ndarray) -> np.ndarray:
    """(nh, nw, n_coeffs) the IMAGE_COEFFS DCT coefficients of every 8x8 block of luma y."""
    d = dct_matrix()
    coeffs = np.einsum("ki,abij,lj->abkl", d, _blocks(y), d)            # (nh, nw, 8, 8)
    return np.stack([coeffs[:, :, u, v] for u, v in IMAGE_COEFFS], -1)


def embed_image(image: np.ndarray, bits, key: int, strength: float = IMAGE_STRENGTH,
                host_rejection: float = 1.0) -> np.ndarray:
    """Hide `bits` in an (H, W) or (H, W, 3) uint8 image; returns a uint8 image alike.

    Every 8x8 luma block gets +/- strength on its IMAGE_COEFFS DCT coefficients; the
    change is spread back to R, G, B equally (a pure luma change). A border that does
    not fill a whole block is left untouched.

    host_rejection (lambda, "improved spread spectrum"): the host's own correlation
    with bit k's chips, mean_i(x_i c_i), would add to the detector's score as noise;
    the embedder knows it, so it subtracts lambda times it along the same chips:
    delta_i = (strength * s_k - lambda * mean_i(x_i c_i)) * c_i.
    """
    image = _check_image(image)
    bits = _check_bits(bits)
    h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
    owner, chips = _image_pattern((h, w), len(bits), key)
    host = _host_coefficients(_luma(image)[:h, :w])
    host_corr = (np.bincount(owner.ravel(), (host * chips).ravel(), len(bits))
                 / np.bincount(owner.ravel(), minlength=len(bits)))        # (n_bits,)
    signs = 2.0 * bits - 1.0
    amount = strength * signs - host_rejection * host_corr                # (n_bits,)
    delta_coeffs = np.zeros((h // BLOCK, w // BLOCK, BLOCK, BLOCK))
    for c, (u, v) in enumerate(IMAGE_COEFFS):
        delta_coeffs[:, :, u, v] = chips[..., c] * amount[owner[..., c]]
    d = dct_matrix()
    delta = _unblocks(np.einsum("ki,abkl,lj->abij", d, delta_coeffs, d))   # inverse DCT
    out = image.astype(np.float64)
    if image.ndim == 3:
        out[:h, :w, :3] += delta[..., None]
    else:
        out[:h, :w] += delta
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def image_scores(image: np.ndarray, n_bits: int, key: int,
                 shape: tuple[int, int] | None = None) -> np.ndarray:
    """(n_bits,) correlation scores; the sign is the bit. `shape`: the size the image
    had when marked (an attacked copy of another size is resized back first)."""
    image = _check_image(image)
    if shape is not None and tuple(image.shape[:2]) != tuple(shape):
        image = resize_image(image, (shape[1], shape[0]))
    y = _luma(image)
    h, w = (y.shape[0] // BLOCK) * BLOCK, (y.shape[1] // BLOCK) * BLOCK
    owner, chips = _image_pattern((h, w), n_bits, key)
    picked = _host_coefficients(y[:h, :w])
    return np.bincount(owner.ravel(), weights=(picked * chips).ravel(), minlength=n_bits)


def extract_image(image: np.ndarray, n_bits: int, key: int,
                  shape: tuple[int, int] | None = None) -> np.ndarray:
    """(n_bits,) recovered 0/1 bits."""
    return (image_scores(image, n_bits, key, shape) > 0).astype(np.int64)


def embed_video(frames: np.ndarray, bits, key: int, strength: float = IMAGE_STRENGTH) -> np.ndarray:
    """(T, H, W, 3) uint8 frames, each carrying the same keyed message."""
    return np.stack([embed_image(f, bits, key, strength) for f in np.asarray(frames)])


def extract_video(frames: np.ndarray, n_bits: int, key: int,
                  shape: tuple[int, int] | None = None) -> np.ndarray:
    """Bits from (T, H, W, 3) frames: the per-frame scores are summed before the sign."""
    scores = sum(image_scores(f, n_bits, key, shape) for f in np.asarray(frames))
    return (scores > 0).astype(np.int64)


# ------------------------------------------------------------------ image attacks
def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize to size = (width, height) through Pillow."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize(size, Image.BICUBIC))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress with Pillow's JPEG encoder at `quality` (1-95)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(
        "RGB" if np.asarray(image).ndim == 3 else "L"))


def image_attacks(seed: int = 0) -> dict:
    """{name: function(image) -> attacked image}: the attacks the mark is built to survive.

    "resize x0.5" halves the image and scales it back up (what a thumbnail-then-zoom
    does). "crop 75%" returns the smaller top-left 75 % x 75 %: the block grid stays
    aligned and the missing blocks just carry no evidence (see `attack_and_extract`).
    """
    rng = np.random.default_rng(seed)

    def noise(img):
        return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)

    def crop(img):
        return img[: img.shape[0] * 3 // 4, : img.shape[1] * 3 // 4]

    def brighter(img):
        return np.clip(img.astype(np.float64) * 1.2 + 10, 0, 255).astype(np.uint8)

    return {"none": lambda img: img, "jpeg 90": lambda img: jpeg(img, 90),
            "jpeg 70": lambda img: jpeg(img, 70), "jpeg 50": lambda img: jpeg(img, 50),
            "resize x0.5": lambda img: rescale(img, 0.5), "crop 75%": crop,
            "noise sigma 5": noise, "brightness x1.2+10": brighter}


def image_limit_attacks() -> dict:
    """Attacks past the design: JPEG 10, a x0.25 resize, a 4-pixel shift (the block grid
    no longer lines up; real systems add a synchronisation template for this)."""
    def shift(img):
        out = np.zeros_like(img)
        out[:, 4:] = img[:, :-4]
        return out

    return {"jpeg 10": lambda img: jpeg(img, 10), "resize x0.25": lambda img: rescale(img, 0.25),
            "shift 4 px": shift}


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by `factor` and back to the original size (detail finer than the small
    copy's pixels is lost)."""
    h, w = image.shape[:2]
    small = resize_image(image, (max(1, round(w * factor)), max(1, round(h * factor))))
    return resize_image(small, (w, h))


def attack_and_extract(marked: np.ndarray, attack, n_bits: int, key: int) -> np.ndarray:
    """Attack an image and read its bits back. A smaller result is taken to be a crop
    from the top-left corner and padded back to place with zeros."""
    attacked = np.asarray(attack(marked))
    if attacked.shape[:2] != marked.shape[:2]:
        padded = np.zeros_like(marked)
        padded[: attacked.shape[0], : attacked.shape[1]] = attacked
        attacked = padded
    return extract_image(attacked, n_bits, key)


def demo_image(size: int = 256, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 test picture: soft coloured blobs, edges and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(12):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
        img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None] * rng.uniform(0, 120, 3)
    img += 40 * (np.sin(30 * xx + 10 * yy) > 0)[..., None]           # hard edges
    img += rng.normal(0, 6, (size, size, 1))                         # texture
    return np.clip(img / img.max() * 235 + 10, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------- audio
def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFTs of such lengths are fast (a prime length is not)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _bandpass(x: np.ndarray, sample_rate: int, band=AUDIO_BAND_HZ) -> np.ndarray:
    """Zero every FFT bin outside `band` (Hz): a brick-wall band-pass along the last axis
    (computed on a zero-padded fast FFT length, then cut back)."""
    n = x.shape[-1]
    n_fft = _fast_len(n)
    spectrum = np.fft.rfft(x, n=n_fft, axis=-1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spectrum[..., (freqs < band[0]) | (freqs > band[1])] = 0
    return np.fft.irfft(spectrum, n=n_fft, axis=-1)[..., :n]


def _envelope(x: np.ndarray, sample_rate: int, seconds: float = 0.02) -> np.ndarray:
    """Smoothed loudness (moving RMS over `seconds`), floored at 1 % of the peak."""
    n = max(1, int(seconds * sample_rate))
    cumulative = np.concatenate([[0.0], np.cumsum(np.pad(x ** 2, (n // 2, n - 1 - n // 2)))])
    power = (cumulative[n:] - cumulative[:-n]) / n             # centred moving mean, (T,)
    env = np.sqrt(np.maximum(power, 0.0))
    return np.maximum(env, 0.01 * env.max() + 1e-12)


def _audio_patterns(length: int, sample_rate: int, n_bits: int, key: int) -> np.ndarray:
    """(n_bits, length) keyed band-limited noise patterns, unit RMS each."""
    rng = np.random.default_rng(key)
    p = _bandpass(rng.standard_normal((n_bits, length)), sample_rate)
    return p / np.sqrt((p ** 2).mean(axis=1, keepdims=True))


def embed_audio(wave: np.ndarray, sample_rate: int, bits, key: int,
                strength: float = AUDIO_STRENGTH) -> np.ndarray:
    """Hide `bits` in a mono wave (T,) float in [-1, 1]; returns (T,) float32.

    w = strength * env(x) * sum_k s_k p_k / sqrt(N): loudness-shaped, so the
    watermark-to-host power ratio is about strength^2 everywhere.
    """
    x = np.asarray(wave, np.float64)
    if x.ndim != 1:
        raise ValueError(f"wave must be mono (T,); got shape {x.shape}")
    bits = _check_bits(bits)
    patterns = _audio_patterns(len(x), sample_rate, len(bits), key)
    signs = 2.0 * bits - 1.0
    mark = strength * _envelope(x, sample_rate) * (signs @ patterns) / math.sqrt(len(bits))
    return np.clip(x + mark, -1.0, 1.0).astype(np.float32)


def audio_scores(wave: np.ndarray, sample_rate: int, n_bits: int, key: int,
                 length: int | None = None, max_lag: int = AUDIO_MAX_LAG) -> tuple[np.ndarray, int]:
    """((n_bits,) scores, lag found). The received wave is band-passed and divided by
    its own envelope (so loud passages do not drown the correlation), then correlated
    with each pattern at every lag in [-max_lag, max_lag]: codecs add delay."""
    y = np.asarray(wave, np.float64)
    length = length or len(y)
    y = np.pad(y, (0, max(0, length - len(y))))[:length]
    z = _bandpass(y, sample_rate)
    z = z / _envelope(z, sample_rate)
    patterns = _audio_patterns(length, sample_rate, n_bits, key)
    n_fft = _fast_len(length + max_lag + 1)
    corr = np.fft.irfft(np.fft.rfft(z, n_fft)[None] * np.conj(np.fft.rfft(patterns, n_fft)), n_fft)
    lags = np.r_[0:max_lag + 1, n_fft - max_lag:n_fft]           # corr[k, lag] for lag >= 0, < 0
    strength_at = np.abs(corr[:, lags]).sum(axis=0)
    best = lags[np.argmax(strength_at)]
    return corr[:, best], int(best if best <= max_lag else best - n_fft)


def extract_audio(wave: np.ndarray, sample_rate: int, n_bits: int, key: int,
                  length: int | None = None) -> np.ndarray:
    """(n_bits,) recovered 0/1 bits from a (possibly delayed or trimmed) wave."""
    scores, _ = audio_scores(wave, sample_rate, n_bits, key, length)
    return (scores > 0).astype(np.int64)


# ------------------------------------------------------------------ audio attacks
def ffmpeg_roundtrip(wave: np.ndarray, sample_rate: int, codec: str = "aac",
                     bitrate: str = "64k") -> np.ndarray:
    """Encode with ffmpeg (codec "aac" or "libmp3lame") and decode back to (T',) float32."""
    import imageio_ffmpeg
    import soundfile as sf

    ext = {"aac": ".m4a", "libmp3lame": ".mp3"}.get(codec)
    if ext is None:
        raise ValueError(f"codec must be 'aac' or 'libmp3lame'; got {codec!r}")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = (Path(tmp) / n for n in ("in.wav", "enc" + ext, "out.wav"))
        sf.write(src, np.asarray(wave, np.float32), sample_rate, subtype="PCM_16")
        for args in (["-i", str(src), "-c:a", codec, "-b:a", bitrate, str(enc)],
                     ["-i", str(enc), "-ar", str(sample_rate), "-ac", "1", str(dec)]):
            subprocess.run([exe, "-y", "-loglevel", "error", *args], check=True,
                           capture_output=True)
        out, _ = sf.read(dec, dtype="float32")
    return out


def audio_attacks(sample_rate: int, seed: int = 0) -> dict:
    """{name: function(wave) -> attacked wave (same sample rate)} for the table."""
    from course_lib.audio.io import resample
    import torch

    rng = np.random.default_rng(seed)

    def resampled(w, rate):
        down = resample(torch.as_tensor(w, dtype=torch.float32), sample_rate, rate)
        return resample(down, rate, sample_rate).numpy()

    def noise(w):                                    # white noise 30 dB below the signal
        return w + rng.normal(0, np.sqrt(np.mean(w ** 2)) * 10 ** (-30 / 20), w.shape)

    return {"none": lambda w: w,
            "resample 8 kHz": lambda w: resampled(w, 8000),
            "resample 22.05 kHz": lambda w: resampled(w, 22050),
            "AAC 64 kbps": lambda w: ffmpeg_roundtrip(w, sample_rate, "aac", "64k"),
            "MP3 64 kbps": lambda w: ffmpeg_roundtrip(w, sample_rate, "libmp3lame", "64k"),
            "noise 30 dB": noise,
            "low-pass 3.4 kHz": lambda w: _bandpass(w, sample_rate, (0.0, 3400.0))}

