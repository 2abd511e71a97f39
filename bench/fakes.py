"""Loopback stand-ins for the external services, for `make bench` only.

One threaded HTTP server serves:
- a Clerk JWKS (`GET /clerk/.well-known/jwks.json`): the bench signs real tokens with the matching key;
- Twitch (`POST /twitch-auth/token`, `GET /helix/clips`): a deterministic clip history with Helix's
  ~1,000-result cap, `first`/`after` paging and rate-limit headers;
- AWS Lambda's invoke endpoint (`POST /2015-03-31/functions/<name>/invocations`), named by boto3's
  `AWS_ENDPOINT_URL_LAMBDA`: answers Remotion's start and status calls and records when each start arrived;
- an OpenAI-compatible speech recognition (`POST /openai/audio/transcriptions`, TRANSCRIPTION_API_URL
  `/openai`): takes TRANSCRIPTION_SECONDS whatever the audio, answers a `verbose_json` of
  TRANSCRIPTION_WORDS words over a minute, and records each request's audio size and its own time
  (`GET /__transcriptions`).

Run: python bench/fakes.py PORT JWKS_FILE
"""

import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HELIX_CAP = 1000
# 10,000 clips over the year before BENCH_NOW, with one dense week (1,500 clips) that forces a window split.
BENCH_NOW = datetime(2026, 11, 1, tzinfo=UTC)
CLIP_COUNT = 10_000


def _clip_history() -> list[dict]:
    clips = []
    for number in range(CLIP_COUNT):
        if number < 1500:
            created = BENCH_NOW - timedelta(days=40) + timedelta(seconds=number * 400)  # the dense week
        else:
            created = BENCH_NOW - timedelta(days=365) + timedelta(seconds=(number - 1500) * 3700)
        clips.append(
            {
                "id": f"BenchClip{number:05d}-x",
                "url": f"https://clips.twitch.tv/BenchClip{number:05d}-x",
                "embed_url": f"https://clips.twitch.tv/embed?clip=BenchClip{number:05d}-x",
                "broadcaster_id": "424242",
                "broadcaster_name": "BenchStreamer",
                "creator_id": str(1000 + number % 97),
                "creator_name": f"Clipper{number % 97}",
                "video_id": "",
                "game_id": str(509658 + number % 5),
                "language": "en",
                "title": f"Bench clip number {number}",
                "view_count": (number * 7919) % 50_000,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "thumbnail_url": f"https://static-cdn.jtvnw.net/BenchClip{number:05d}-preview-480x272.jpg",
                "duration": 5 + number % 55,
                "vod_offset": None,
                "is_featured": number % 13 == 0,
            }
        )
    return clips


CLIPS = _clip_history()
CLIPS_BY_TIME = sorted(CLIPS, key=lambda clip: clip["created_at"])
invocations: list[dict] = []
invocations_lock = threading.Lock()

# The speech recognition's fixed time per request, and its answer: 150 words over 60 s (2.5 a second).
TRANSCRIPTION_SECONDS = 0.5
TRANSCRIPTION_WORDS = 150
_SPEECH = ["no", "way", "he", "just", "clutched", "that", "round", "chat", "did", "you", "see", "it"]


def _transcription_answer() -> bytes:
    words = [
        {"word": _SPEECH[number % len(_SPEECH)], "start": round(number * 0.4, 2), "end": round(number * 0.4 + 0.3, 2)}
        for number in range(TRANSCRIPTION_WORDS)
    ]
    text = " ".join(word["word"] for word in words)
    end = words[-1]["end"]
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": end, "text": f" {text}", "temperature": 0.0}
    answer = {"task": "transcribe", "language": "english", "duration": 60.0, "text": text, "words": words}
    return json.dumps({**answer, "segments": [segment], "usage": {"type": "duration", "seconds": 60}}).encode()


TRANSCRIPTION_ANSWER = _transcription_answer()
transcriptions: list[dict] = []
transcriptions_lock = threading.Lock()


def _uploaded_file(content_type: str, body: bytes) -> bytes:
    """The file part of a multipart/form-data body (the audio), b"" when there is none."""
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    for part in body.split(b"--" + boundary) if boundary else ():
        head, _, content = part.partition(b"\r\n\r\n")
        if b"filename=" in head:
            return content.removesuffix(b"\r\n")
    return b""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    jwks: bytes = b"{}"

    def log_message(self, *args):  # keep the bench output readable
        pass

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/clerk/.well-known/jwks.json":
            return self._send(200, self.jwks)
        if url.path == "/helix/clips":
            return self._helix_clips(parse_qs(url.query))
        if url.path == "/__invocations":
            with invocations_lock:
                return self._send(200, json.dumps(invocations).encode())
        if url.path == "/__transcriptions":
            with transcriptions_lock:
                return self._send(200, json.dumps(transcriptions).encode())
        return self._send(404, b'{"message": "not found"}')

    def do_POST(self):
        started = time.perf_counter()
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/openai/audio/transcriptions":
            return self._transcription(body, started)
        if url.path == "/twitch-auth/token":
            return self._send(200, json.dumps({"access_token": "bench-app-token", "expires_in": 5_000_000}).encode())
        if url.path.startswith("/2015-03-31/functions/") and url.path.endswith("/invocations"):
            return self._lambda(json.loads(body or b"{}"))
        return self._send(404, b'{"message": "not found"}')

    def _helix_clips(self, query):
        started = query["started_at"][0]
        ended = query["ended_at"][0]
        first = int(query.get("first", ["20"])[0])
        offset = int(query.get("after", ["0"])[0])
        in_window = [clip for clip in CLIPS_BY_TIME if started <= clip["created_at"] < ended][:HELIX_CAP]
        # Helix sorts by views, not date.
        in_window.sort(key=lambda clip: -clip["view_count"])
        page = in_window[offset : offset + first]
        cursor = str(offset + first) if offset + first < len(in_window) else None
        body = {"data": page, "pagination": {"cursor": cursor} if cursor else {}}
        headers = {
            "Ratelimit-Limit": "800",
            "Ratelimit-Remaining": "799",
            "Ratelimit-Reset": str(int(time.time()) + 60),
        }
        return self._send(200, json.dumps(body).encode(), headers)

    def _lambda(self, payload: dict):
        if payload.get("type") == "start":
            webhook = payload.get("webhook") or {}
            with invocations_lock:
                invocations.append({"at": time.time(), "job": (webhook.get("customData") or {}).get("job")})
            answer = {
                "type": "success",
                "renderId": f"bench-{uuid.uuid4().hex[:12]}",
                "bucketName": "remotionlambda-bench",
            }
        else:
            answer = {"type": "success", "done": False, "overallProgress": 0.5, "fatalErrorEncountered": False}
        return self._send(200, json.dumps(answer).encode())

    def _transcription(self, body: bytes, started: float):
        audio = _uploaded_file(self.headers.get("Content-Type", ""), body)
        time.sleep(TRANSCRIPTION_SECONDS)
        # The fake's own time: from the request's headers to its answer, the upload's body and the sleep included.
        record = {"audio_bytes": len(audio), "ogg": audio.startswith(b"OggS"), "seconds": time.perf_counter() - started}
        with transcriptions_lock:
            transcriptions.append(record)
        return self._send(200, TRANSCRIPTION_ANSWER)

    def _send(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    port, jwks_file = int(sys.argv[1]), sys.argv[2]
    with open(jwks_file, "rb") as source:
        Handler.jwks = source.read()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
