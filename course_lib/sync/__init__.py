"""Timing between sound and picture (days 16-17).

- `beats`: onset strength, tempo and dynamic-programming beat tracking (Ellis 2007, as
  librosa does it), the beat F-measure (as mir_eval).
- `avsync`: audio-visual offsets: the offset search over per-frame embeddings (LSE-D,
  LSE-C), cross-correlation of audio onsets with visual motion, `delay_audio`, the
  per-video-frame mel and frame windows.
- `foley`: sound for a silent video: wall hits read from a bouncing digit's pixels, an
  impact generated at each by day 15's token LM with and without the hit times.
- `syncnet`: the SyncNet-style lip-sync expert (face and audio encoders, BCE on their
  cosine similarity), its training pairs (`FaceWindows`), `embed_clip`, `sync_accuracy`.
- `syncnet_train`: `SyncNetRecipe`, `PRESETS`, `train_syncnet`.
- `lipsync`: the Wav2Lip-style generator, lower-half masking, `generator_loss` (L1 plus
  the frozen expert's sync loss) and `dub`.
- `lipsync_train`: `LipSyncRecipe` (holds the expert's recipe), `PRESETS`, the window
  batches, the sync-loss switch (an `on_step`), `train_lipsync`.
"""
