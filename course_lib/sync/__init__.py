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
- `lipsync`: the Wav2Lip-style generator (a U-Net whose decoder the audio steers by
  FiLM), lower-half masking, the centred mel windows, the feathered `paste`,
  `generator_loss` (mouth-weighted L1 plus the frozen expert's sync loss) and `dub`.
- `lipsync_train`: `LipSyncRecipe` (holds the expert's recipe), `PRESETS`, the window
  batches, Wav2Lip's sync-loss switch (an `on_step`), `train_lipsync`.
- `dubbing_eval`: judging dubbing with what did not train it: faces made to say other
  clips' audio or new sentences, the pixel ruler of the mouth opening, an independent
  expert (`judge_recipe`), the seam ratio.
"""
