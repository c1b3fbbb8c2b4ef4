"""A local text-to-speech HTTP service with an ElevenLabs-shaped API (its clients are in
`tts_client` and re-exported here).

The endpoint and payload follow ElevenLabs' public API, so a client written for it
works here by changing the base URL:

    POST /v1/text-to-speech/{voice_id}
    headers: xi-api-key: <key>, Content-Type: application/json
    body:    {"text": "four two", "model_id": "...", "voice_settings": {"speed": 1.1, "pitch": 2}}
    200 ->   audio/wav (16-bit PCM, 16 kHz, mono)
    GET /v1/voices -> {"voices": [{"voice_id": "en-us", "name": "en-us"}, ...]}
    POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000
    200 ->   audio/pcm (16-bit little-endian, 16 kHz, mono), sent as it is made
             (Transfer-Encoding: chunked); day 19

Errors are JSON, as ElevenLabs sends them: {"detail": {"status": "...", "message": "..."}}
with 400 (body is not a JSON object), 401 (missing or wrong key), 404 (unknown voice or
path), 405, 411/413 (no or too large body), 422 (empty or over-long text, bad settings,
or one of ElevenLabs' settings this model cannot follow: stability, similarity_boost,
style, use_speaker_boost, each refused by name rather than silently ignored),
500 (the model failed). The server is the standard library's ThreadingHTTPServer; it
binds 127.0.0.1 unless told otherwise, and a lock lets one request at a time use the
model (PyTorch modules are not safe to share between threads mid-forward).

    with serve(synthesizer, voices=["en-us"], api_key="secret") as server:
        text_to_speech("four two", "en-us", api_key="secret", base_url=server.url, out_path="a.wav")

`synthesizer(text, voice_id, settings) -> wave` is any callable (a trained model via
`fastspeech_synthesizer`, or a stub in tests); the streaming endpoint needs a
`streamer(text, voice_id, settings) -> iterator of waves` too (`fastspeech_streamer`).
ElevenLabs streams MP3 unless asked for `output_format=pcm_16000`; here PCM is the only
format, and any other is refused by name. `stream_text_to_speech` reads the stream
chunk by chunk as it arrives. `python -m course_lib.speech.service` serves the trained
FastSpeech model.
"""

from __future__ import annotations

import argparse
import hmac
import io
import itertools
import json
import os
import secrets
import threading
import time
import wave as wavelib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from course_lib.speech.tts_client import (MODEL_ID, STREAM_FORMAT, TTSClientError, stream_text_to_speech,
                                         text_to_speech)

__all__ = ["MAX_TEXT_CHARS", "MODEL_ID", "TTSError", "wav_bytes", "parse_request", "make_handler",
           "TTSServer", "start_server",
           "serve", "fastspeech_synthesizer", "fastspeech_streamer", "text_to_speech", "stream_text_to_speech",
           "TTSClientError", "main", "STREAM_FORMAT"]

MAX_TEXT_CHARS = 500                 # longer texts get a 422 (ElevenLabs: 5,000 per request)
MAX_BODY_BYTES = 64 * 1024
SETTINGS_RANGES = {"speed": (0.5, 2.0), "pitch": (-12.0, 12.0)}   # our voice_settings
# ElevenLabs' other voice_settings, which this model has no honest way to follow: a request
# that sets one gets a 422 naming it (never silently ignored), with the reason below.
UNSUPPORTED_SETTINGS = {
    "stability": "ElevenLabs' stability trades consistency for a varied delivery between "
                 "generations; this FastSpeech 2 is deterministic (one output per text and voice)",
    "similarity_boost": "ElevenLabs' similarity_boost sets how closely a generation adheres to the "
                        "reference voice; here a voice is one fixed d-vector, with nothing to adjust",
    "style": "ElevenLabs' style exaggerates the reference speaker's style; this model has no style input",
    "use_speaker_boost": "ElevenLabs' use_speaker_boost raises the similarity to the original speaker; "
                         "this model has no such stage",
}

Synthesizer = Callable[[str, str, dict], "np.ndarray"]
Streamer = Callable[[str, str, dict], Iterator["np.ndarray"]]


class TTSError(Exception):
    """An error the server answers with `status` and a JSON body {"detail": {status, message}}."""

    def __init__(self, http_status: int, code: str, message: str):
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message


def pcm16_bytes(wave) -> bytes:
    """A float wave in [-1, 1] (clipped) as 16-bit little-endian PCM bytes."""
    x = np.asarray(wave.detach().cpu() if hasattr(wave, "detach") else wave, dtype=np.float32).reshape(-1)
    return (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def wav_bytes(wave, sample_rate: int = 16_000) -> bytes:
    """A (T,) float wave in [-1, 1] -> the bytes of a 16-bit PCM mono WAV file."""
    x = np.asarray(wave.detach().cpu() if hasattr(wave, "detach") else wave, dtype=np.float32)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError(f"wave must be a finite (T,) array; got shape {x.shape}")
    buffer = io.BytesIO()
    with wavelib.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16_bytes(x))
    return buffer.getvalue()


def _settings(payload: dict) -> dict:
    settings = payload.get("voice_settings") or {}
    if not isinstance(settings, dict):
        raise TTSError(422, "invalid_voice_settings", "voice_settings must be a JSON object")
    out = {}
    for key, value in settings.items():
        if key in UNSUPPORTED_SETTINGS:
            raise TTSError(422, "unsupported_voice_setting",
                           f"voice_settings.{key} is not supported by this server: {UNSUPPORTED_SETTINGS[key]}. "
                           f"Supported: {sorted(SETTINGS_RANGES)} (speed in {list(SETTINGS_RANGES['speed'])}, "
                           f"pitch in semitones in {list(SETTINGS_RANGES['pitch'])})")
        if key not in SETTINGS_RANGES:
            raise TTSError(422, "invalid_voice_settings",
                           f"unknown voice setting {key!r}; supported: {sorted(SETTINGS_RANGES)}")
        low, high = SETTINGS_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise TTSError(422, "invalid_voice_settings",
                           f"voice_settings.{key} must be a number in [{low}, {high}]; got {value!r}")
        out[key] = float(value)
    return out


def parse_request(body: bytes, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, str, dict]:
    """Validate a request body -> (text, model_id, settings), or raise TTSError (400/422)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TTSError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise TTSError(400, "invalid_json", "the body must be a JSON object {\"text\": ...}")
    text = payload.get("text")
    if not isinstance(text, str):
        raise TTSError(422, "invalid_text", "field 'text' is required and must be a string")
    if not text.strip():
        raise TTSError(422, "empty_text", "field 'text' is empty")
    if len(text) > max_chars:
        raise TTSError(422, "text_too_long", f"text has {len(text)} characters; the limit is {max_chars}")
    model_id = payload.get("model_id", MODEL_ID)
    if not isinstance(model_id, str):
        raise TTSError(422, "invalid_model_id", "model_id must be a string")
    return text, model_id, _settings(payload)


def make_handler(synthesizer: Synthesizer, voices: Sequence[str], api_key: str,
                 sample_rate: int = 16_000, max_chars: int = MAX_TEXT_CHARS, streamer: Streamer | None = None):
    """A BaseHTTPRequestHandler class serving the API with `synthesizer` (and `streamer`,
    for the streaming endpoint) behind a lock."""
    lock = threading.Lock()
    voice_set = list(voices)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "CourseTTS/1.0"

        def log_message(self, format, *args):           # quiet: notebooks and tests
            pass

        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True       # the client gave up (e.g. its timeout)

        def _error(self, err: TTSError):
            body = json.dumps({"detail": {"status": err.code, "message": err.message}}).encode()
            self._send(err.http_status, body, "application/json")

        def _check_key(self):
            given = self.headers.get("xi-api-key")
            if given is None:
                raise TTSError(401, "missing_api_key", "send your key in the 'xi-api-key' header")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                raise TTSError(401, "invalid_api_key", "the 'xi-api-key' header is not a valid key")

        def _read_body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise TTSError(411, "length_required", "send a Content-Length header")
            if int(length) > MAX_BODY_BYTES:
                raise TTSError(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            return self.rfile.read(int(length))

        def do_GET(self):
            try:
                if urlsplit(self.path).path.rstrip("/") != "/v1/voices":
                    raise TTSError(404, "not_found", f"no such endpoint: GET {self.path}")
                self._check_key()
                voices_json = [{"voice_id": v, "name": v, "category": "generated"} for v in voice_set]
                self._send(200, json.dumps({"voices": voices_json}).encode(), "application/json")
            except TTSError as err:
                self._error(err)

        def do_POST(self):
            try:
                body = self._read_body()          # always drain the body (keep-alive)
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                streaming = len(parts) == 4 and parts[3] == "stream"
                if len(parts) not in (3, 4) or parts[:2] != ["v1", "text-to-speech"] or (
                        len(parts) == 4 and not streaming) or (streaming and streamer is None):
                    raise TTSError(404, "not_found", f"no such endpoint: POST {self.path}")
                self._check_key()
                voice_id = unquote(parts[2])
                if voice_id not in voice_set:
                    raise TTSError(404, "voice_not_found",
                                   f"unknown voice_id {voice_id!r}; GET /v1/voices lists {len(voice_set)}")
                text, model_id, settings = parse_request(body, max_chars)
                if streaming:
                    self._stream(text, voice_id, settings, model_id, parse_qs(url.query))
                    return
                start = time.perf_counter()
                try:
                    with lock:
                        wave = synthesizer(text, voice_id, settings)
                except ValueError as exc:          # e.g. a word the model has no phonemes for
                    raise TTSError(422, "cannot_synthesize", str(exc)) from None
                except Exception as exc:           # noqa: BLE001 - the client gets a JSON 500
                    raise TTSError(500, "synthesis_failed", f"{type(exc).__name__}: {exc}") from None
                audio = wav_bytes(wave, sample_rate)
                self._send(200, audio, "audio/wav",
                           {"x-synthesis-ms": f"{1000 * (time.perf_counter() - start):.1f}",
                            "x-model-id": model_id})
            except TTSError as err:
                self._error(err)

        def _stream(self, text: str, voice_id: str, settings: dict, model_id: str, query: dict):
            """Chunked transfer: each wave the streamer yields goes out as one HTTP chunk of
            16-bit PCM as soon as it exists. An error before the first chunk is a JSON
            error; after it, the stream is cut (the status line is already sent)."""
            output_format = query.get("output_format", [STREAM_FORMAT])[0]
            if output_format != STREAM_FORMAT:
                raise TTSError(422, "unsupported_output_format",
                               f"output_format {output_format!r} is not available; this server streams "
                               f"{STREAM_FORMAT!r} (16-bit PCM, 16 kHz, mono)")
            with lock:
                start = time.perf_counter()
                chunks = iter(streamer(text, voice_id, settings))
                try:
                    first = next(chunks)
                except StopIteration:
                    first = np.zeros(0, dtype=np.float32)
                except ValueError as exc:
                    raise TTSError(422, "cannot_synthesize", str(exc)) from None
                except Exception as exc:           # noqa: BLE001
                    raise TTSError(500, "synthesis_failed", f"{type(exc).__name__}: {exc}") from None
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/pcm")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("x-model-id", model_id)
                    self.send_header("x-first-chunk-ms", f"{1000 * (time.perf_counter() - start):.1f}")
                    self.end_headers()
                    for wave in itertools.chain([first], chunks):
                        data = pcm16_bytes(wave)
                        if data:
                            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                except Exception:                  # noqa: BLE001 - mid-stream: all we can do is hang up
                    self.close_connection = True

        def _not_allowed(self):
            self._error(TTSError(405, "method_not_allowed", f"{self.command} is not supported"))

        do_PUT = do_DELETE = do_PATCH = _not_allowed

    return Handler


@dataclass
class TTSServer:
    """A running server: `url` (http://host:port), `port`; `stop()` shuts it down."""
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_server(synthesizer: Synthesizer, voices: Sequence[str], api_key: str,
                 host: str = "127.0.0.1", port: int = 0, **kwargs) -> TTSServer:
    """Serve in a background thread; port 0 picks a free port. Call `.stop()` when done."""
    if not callable(synthesizer):
        raise TypeError(f"synthesizer must be callable (text, voice_id, settings) -> wave; "
                        f"got {type(synthesizer).__name__}")
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("api_key must be a non-empty str")
    if not voices:
        raise ValueError("voices must name at least one voice")
    httpd = ThreadingHTTPServer((host, port), make_handler(synthesizer, voices, api_key, **kwargs))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return TTSServer(httpd, thread)


@contextmanager
def serve(synthesizer: Synthesizer, voices: Sequence[str], api_key: str, host: str = "127.0.0.1",
          port: int = 0, **kwargs) -> Iterator[TTSServer]:
    """`with serve(...) as server:` a background server that is stopped on exit."""
    server = start_server(synthesizer, voices, api_key, host, port, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def fastspeech_synthesizer(tts, vocoder: str = "neural") -> Synthesizer:
    """Adapt a `fastspeech_train.TrainedFastSpeech` to the service: settings speed and pitch."""
    def synthesize(text: str, voice_id: str, settings: dict):
        return tts.synthesize(text, voice=voice_id, speed=settings.get("speed", 1.0),
                              pitch=settings.get("pitch", 0.0), vocoder=vocoder)
    return synthesize


def fastspeech_streamer(tts, chunk_frames: int = 25, words_per_phrase: int | None = None) -> Streamer:
    """Adapt a `TrainedFastSpeech` to the streaming endpoint: `streaming.tts.stream_speech`
    (chunks of `chunk_frames` mel frames, 10 ms each; phrases of `words_per_phrase`)."""
    from course_lib.streaming.tts import stream_speech

    def stream(text: str, voice_id: str, settings: dict):
        for chunk in stream_speech(tts, text, voice_id, chunk_frames, speed=settings.get("speed", 1.0),
                                   pitch=settings.get("pitch", 0.0), words_per_phrase=words_per_phrase):
            yield chunk.numpy()
    return stream


# ---------------------------------------------------------------- python -m

def main(argv: Sequence[str] | None = None) -> None:
    """`python -m course_lib.speech.service [--port 8011] [--host 127.0.0.1]`: serve the
    trained FastSpeech model (trained first if artifacts/ has none). The key comes from
    --api-key, else $COURSE_TTS_API_KEY, else a random one printed at start."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--api-key", default=os.environ.get("COURSE_TTS_API_KEY"))
    parser.add_argument("--vocoder", default="neural", choices=["neural", "griffin_lim"])
    args = parser.parse_args(argv)
    from course_lib.speech.fastspeech_train import train_fastspeech

    tts = train_fastspeech()
    key = args.api_key or secrets.token_urlsafe(16)
    httpd = ThreadingHTTPServer((args.host, args.port),
                                make_handler(fastspeech_synthesizer(tts, args.vocoder), list(tts.voices), key,
                                             streamer=fastspeech_streamer(tts)))
    print(f"serving {len(tts.voices)} voices on http://{args.host}:{httpd.server_address[1]}"
          f"  (xi-api-key: {key if not args.api_key else '<from --api-key / env>'})", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
