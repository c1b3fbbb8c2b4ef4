"""Symbolic music (days 13-14).

- `midi`: `Note`, reading and writing MIDI files (mido underneath).
- `tokenizer`: quantisation, the REMI and TSD tokenizers (exact round trip), a grammar
  check for generated token streams.
- `ngram`: add-k n-gram baselines over tokens.
- `transformer`: the Music Transformer: relative attention with the skewing trick,
  KV-cached generation, sampling, `lm_loss`, `window_batches`, `sequence_nll`.
- `transformer_train`: `MusicTransformerRecipe`, `PRESETS`, the chorale token splits,
  `train_music_transformer`.
- `synth`: notes -> audio (simple additive voices), WAV and MIDI export.
"""
