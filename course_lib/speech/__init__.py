"""Speech: data, text-to-speech, recognition and a local TTS service (days 09-12).

Data and text:
- `espeak`: a ctypes binding to eSpeak NG: waves with phoneme timings, IPA phonemes.
- `text`: text normalisation, symbol tables, phoneme tokens.

Models (config, modules, loss, inference):
- `tacotron`: Tacotron 2: location-sensitive attention, stop token, guided attention.
- `fastspeech`: FastSpeech 2: eSpeak durations, length regulator, variance predictors.
- `speaker`: the speaker encoder (d-vectors) and voice similarity.
- `vocoder`: Griffin-Lim, the multi-resolution STFT loss, a Vocos-style neural vocoder.
- `asr_tokenizer`: Whisper's special tokens and a word tokenizer.
- `asr`: Whisper-style recognition: conv stem, encoder-decoder, joint CTC loss, greedy
  and beam decoding with a KV cache, language identification.
- `ctc`: the CTC baseline: encoder + linear head, CTC loss, best-path decoding.

Training (recipes, `PRESETS`, load-or-train) and products:
- `tacotron_train`: `train_tacotron` (alignment snapshots saved with the checkpoint).
- `speaker_train`: `train_speaker_encoder`, the speaker table.
- `fastspeech_train`: `train_fastspeech` (trains its speaker encoder first);
  `TrainedFastSpeech.synthesize` and `clone`, the TTS product API; `CLONING_PRESETS`,
  day 11's 75-voice cloning model.
- `cloning`: speaker adaptation of a clone to its reference clip, and the judges of a
  clone (nearest voice, verification EER, clone WER).
- `vocoder_train`: `train_vocoder`.
- `asr_train`: `train_asr` (clips and their concatenations), `finetune_asr`, `train_ctc`;
  `TrainedASR.transcribe` with the attention decoder or the CTC head.
- `service`: the ElevenLabs-shaped local TTS HTTP server (whole WAV, and a streaming
  endpoint with chunked transfer); `tts_client`: its clients (re-exported by `service`).
- `recognize`: the pocketsphinx judge of intelligibility (score it with
  `metrics.word_error_rate`).
- `word_timestamps` (day 18): Whisper's word times — cross-attention of chosen heads,
  median filtering, DTW, token and word spans.
- `ctc_align` (day 18): WhisperX's way — Viterbi forced alignment on the CTC head, with
  the spikes' lag calibrated on training clips.
"""
