"""Audio as data (day 01 builds it; the speech, music and sync days use it).

- `dsp`: STFT and its inverse, the Slaney mel filterbank, mel and log-mel spectrograms,
  Whisper's log-mel, Griffin-Lim (plain and fast), spectral convergence; each checked
  against librosa.
- `io`: read, write and resample waves (soundfile and librosa underneath).
- `normalize`: `MelNormalizer`, per-band mean/std of log-mels fitted on training data
  (what Tacotron, FastSpeech, the speaker encoder and the vocoder predict or read).
- `prosody`: YIN pitch per mel frame, frame energy, averages per phoneme (FastSpeech 2's
  variance targets).
- `rvq` (day 15): residual vector quantization — EMA codebooks with k-means++ start and
  dead-code restarts, the straight-through estimator, quantizer dropout, bitrate.
- `codebook_patterns` (day 15): how a token LM interleaves K codebooks — MusicGen's delay
  pattern and the flattened one, with their inverses and step counts.
- `codec`, `codec_train` (day 15): a neural audio codec — an STFT-frame convolutional
  encoder, residual VQ (50 frames/s, 8 x 256 codes = 3.2 kbps), a decoder predicting
  per-bin log magnitudes and phase-vocoder phase advances for one inverse STFT, a loss
  with a log-mel term — and its recipe trained on `data.sound_clips`.
- `token_lm` (day 15): a decoder-only transformer over codec codes in the delay or
  flattened layout, conditioned on a sound's class, pitch, loudness and tempo and on a
  frame-aligned onset track (a beat grid when a tempo is given), with classifier-free
  guidance, temperature / top-k and a
  KV cache.
- `fine_codes` (day 15): VALL-E's non-autoregressive stage — every finer codebook for all
  frames at once, one bidirectional pass per codebook.
- `token_lm_train` (day 15): the token LM's and the fine stage's recipes, presets and
  load-or-train on the codec's codes of the sound clips.
- `tag_prompts` (day 15): Bark-style prompts, words and `[tags]` split into segments the
  token LM can generate in order.
- `quality` (day 15): how close decoded audio is — mel distance, SI-SNR, and PESQ / STOI
  from their packages.
- `reference_codecs` (day 15): what a neural codec is compared with — Opus through
  ffmpeg's libopus, and plain downsampling with µ-law samples.
- `style` (day 15): adaptive instance normalisation (AdaIN) of latent sequences, for
  timbre transfer.
- `timbre_transfer` (day 15): AdaIN with learned features on a codec's latents — content
  and style encoders and a decoder, trained on parallel or AdaIN-VC-style pairs; its
  recipe, presets and a scorer (judge for the timbre, YIN for the notes).
"""
