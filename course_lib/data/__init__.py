"""Every data set of the course, generated here or shipped inside a Python package
(nothing is downloaded), and the judges that measure generated samples.

- `digits`: scikit-learn's 8x8 digits, upscaled 16x16 digits, moving-digit clips with
  captions (`MovingDigitsSpec`), deterministic and cached.
- `captions`: captions as words (tokenizer, the null caption of guidance) and the
  (digit, direction) pairs held out of training (day 08's composition test).
- `steered_digits`: a digit that moves where a player steers it (nine actions, clamped
  at the walls) and the windows a streaming video model trains on (day 19).
- `camera`: clips filmed by a moving camera (pans, zoom in) with known motion, and
  phase correlation to measure it (day 07's camera LoRA).
- `toy`: 2-D toy distributions (a ring of Gaussians) and mode coverage.
- `judge`: the digit judge, a small CNN trained on real digits (`JUDGE_RECIPE`,
  `load_judge`): accuracy on generated digits and features for the Frechet distance.
- `frame_judge`: a translation-robust judge of the frames of moving-digit clips
  (`FRAME_JUDGE_RECIPE`, `load_frame_judge`).
- `speech`: the eSpeak NG corpus (text, phonemes, log-mels, phoneme durations), more
  voices (`voice_utterances`), batching.
- `voice_names`: the eSpeak NG voices by name (the corpus', the extra variants, the
  cloning and unseen voices), re-exported by `speech`.
- `multilingual`: spoken digit strings and phrases in English, German, Spanish and
  French with English translations (the ASR data).
- `chorales`: Bach chorales from music21's corpus as notes, with splits by piece.
- `faces`: procedural talking faces whose mouths follow eSpeak visemes; the cached face
  data set (lip-sync).
- `sounds`: synthetic drums, clicks, tones, chirps and loops with exact beat and onset
  times (beats, AV sync).
- `sound_clips`: labelled one-second 16 kHz clips — synthesiser notes in four timbres,
  drums, effects, eSpeak digit words — with their prompts ("bright C4 loud"; day 15).
- `sound_judge`: the judges of generated sounds — a CNN naming a clip's class, trained on
  real clips (`SOUND_JUDGE_RECIPE`, `load_sound_judge`), and a note's pitch by YIN.
"""
