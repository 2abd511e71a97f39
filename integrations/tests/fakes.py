"""Fakes of the vendors we talk to: Clerk, Twitch Helix, Remotion Lambda and PostHog.

Everything here speaks the vendor's format: real RS256 keys and session tokens, real Svix and
Remotion signatures, and payloads built from the recorded ones in `fixtures/` (see `load_fixture`).
No network: tests register these answers on the `mocked_http` fixture (root conftest.py).
"""

import base64
import hashlib
import hmac
import io
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jwt
from botocore.response import StreamingBody
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from responses import matchers
from svix.webhooks import Webhook

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def load_fixture(name: str):
    """A vendor payload kept in fixtures/, e.g. `load_fixture("clerk/user.created.json")`; a fresh copy each call."""
    return json.loads(_fixture_text(name))


# --- Clerk -----------------------------------------------------------------------------------------

ISSUER = "https://clerk.creatorsync.test"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
FRONTEND_ORIGIN = "https://app.creatorsync.test"
CLERK_API_URL = "https://api.clerk.test/v1"
CLERK_SECRET_KEY = "sk_test_creatorsync"
CLERK_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"creatorsync-test-webhook-secret!").decode()
CLERK_WEBHOOK_URL = "/webhooks/clerk/"
CLERK_USER_ID = load_fixture("clerk/user.created.json")["data"]["id"]


class SigningKey:
    """An RSA key pair standing in for a Clerk instance key."""

    def __init__(self, kid: str | None = None):
        self.kid = kid or f"ins_{secrets.token_hex(8)}"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_jwk(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def session_token(self, *, headers: dict | None = None, drop: tuple[str, ...] = (), **claims) -> str:
        """A Clerk v2 session token; keyword arguments override claims, `drop` removes them."""
        now = int(time.time())
        payload = {
            "azp": FRONTEND_ORIGIN,
            "exp": now + 60,
            "iat": now,
            "nbf": now - 5,
            "iss": ISSUER,
            "jti": secrets.token_hex(10),
            "sid": "sess_2abcdef",
            "sub": "user_2owner",
            "sts": "active",
            "v": 2,
            **claims,
        }
        for name in drop:
            payload.pop(name, None)
        header = {"kid": self.kid, "cat": "cl_B7d4PD111AAA", **(headers or {})}
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers=header)


def jwks(*keys: SigningKey) -> dict:
    return {"keys": [key.public_jwk for key in keys]}


def signed_webhook(
    body: dict | list | str,
    *,
    msg_id: str | None = None,
    secret: str = CLERK_WEBHOOK_SECRET,
    at: datetime | None = None,
):
    """Return (raw body, request headers) signed the way Svix signs Clerk's deliveries; a str body is sent as is."""
    raw = body if isinstance(body, str) else json.dumps(body)
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    timestamp = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, raw)
    headers = {
        "HTTP_SVIX_ID": msg_id,
        "HTTP_SVIX_TIMESTAMP": str(int(timestamp.timestamp())),
        "HTTP_SVIX_SIGNATURE": signature,
    }
    return raw, headers


def post_clerk_webhook(client, event, **signing):
    """POST a Clerk delivery to our webhook endpoint, signed as Svix signs it (see `signed_webhook`)."""
    raw, headers = signed_webhook(event, **signing)
    return client.post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers)


def clerk_user(
    clerk_id: str = CLERK_USER_ID,
    *,
    email: str = "owner@example.com",
    updated_at: int = 1_700_000_000_000,
    twitch: tuple[str, str] | None = ("123456", "ownerstreams"),
    **fields,
) -> dict:
    """The user of fixtures/clerk/user.created.json, as webhooks and the Backend API return it, with changes.

    `email` is the primary address (another, older one stays listed first); `twitch` is the linked
    account's (user id, login), or None for no Twitch account; other keyword arguments replace fields.
    """
    user = load_fixture("clerk/user.created.json")["data"]
    primary = next(address for address in user["email_addresses"] if address["id"] == user["primary_email_address_id"])
    primary["email_address"] = email
    user["external_accounts"] = [
        {**account, "provider_user_id": twitch[0], "username": twitch[1], "email_address": email}
        for account in user["external_accounts"]
        if twitch
    ]
    return {**user, "id": clerk_id, "updated_at": updated_at, **fields}


def clerk_event(event_type: str, data) -> dict:
    """A Clerk webhook envelope, as in fixtures/clerk/, around `data`."""
    return {**load_fixture("clerk/user.created.json"), "type": event_type, "data": data}


def clerk_user_deleted(clerk_id: str = CLERK_USER_ID) -> dict:
    """fixtures/clerk/user.deleted.json, for this user."""
    event = load_fixture("clerk/user.deleted.json")
    event["data"]["id"] = clerk_id
    return event


def clerk_oauth_token_url(user) -> str:
    return f"{CLERK_API_URL}/users/{user.clerk_id}/oauth_access_tokens/oauth_twitch"


def serve_clerk_twitch_token(mock, user, scopes=("channel:manage:clips", "user:read:email")) -> None:
    """Clerk's Backend API hands out the user's Twitch token, with these scopes."""
    token = {
        "object": "oauth_access_token",
        "external_account_id": "eac_2pQ7twitchAcctL4nV8xC3bR7tY",
        "provider": "oauth_twitch",
        "provider_user_id": BROADCASTER_ID,
        "token": TWITCH_USER_TOKEN,
        "expires_at": None,
        "label": None,
        "public_metadata": {},
        "scopes": list(scopes),
    }
    mock.get(clerk_oauth_token_url(user), json=[token])


# --- Twitch Helix ----------------------------------------------------------------------------------

TWITCH_API_URL = "https://api.twitch.test/helix"
TWITCH_AUTH_URL = "https://id.twitch.test/oauth2"
TWITCH_TOKEN_URL = f"{TWITCH_AUTH_URL}/token"
TWITCH_VALIDATE_URL = f"{TWITCH_AUTH_URL}/validate"
CLIPS_URL = f"{TWITCH_API_URL}/clips"
USERS_URL = f"{TWITCH_API_URL}/users"
DOWNLOADS_URL = f"{TWITCH_API_URL}/clips/downloads"
TWITCH_CLIENT_ID = "twitch-client-id"
TWITCH_CLIENT_SECRET = "twitch-client-secret"
TWITCH_APP_TOKEN = "app-token-1"
TWITCH_USER_TOKEN = "twitch-user-token-1"  # the streamer's token, handed out by Clerk
BROADCASTER_ID = "123456"

_sequence = itertools.count(1)


def app_token_answer(token: str = TWITCH_APP_TOKEN) -> dict:
    """The client-credentials answer of Twitch's token endpoint."""
    return {"access_token": token, "expires_in": 5000000, "token_type": "bearer"}


def helix_clip(clip_id: str | None = None, *, created_at: datetime | None = None, views: int = 10, **fields) -> dict:
    """A clip object exactly as Helix returns it: the first one of fixtures/twitch/clips.json, renamed."""
    number = next(_sequence)
    clip_id = clip_id or f"AwkwardHelplessSalamander{number}-abc"
    created_at = created_at or datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=number)
    template = load_fixture("twitch/clips.json")["data"][0]
    return {
        **template,
        "id": clip_id,
        "url": f"https://clips.twitch.tv/{clip_id}",
        "embed_url": f"https://clips.twitch.tv/embed?clip={clip_id}",
        "broadcaster_id": BROADCASTER_ID,
        "title": f"Clip number {number}",
        "view_count": views,
        "created_at": helix_time(created_at),
        "thumbnail_url": f"https://static-cdn.jtvnw.net/twitch-clips-thumbnails-prod/{clip_id}/preview-480x272.jpg",
        **fields,
    }


def helix_page(clips: list[dict], cursor: str | None = None) -> dict:
    """A GET /clips answer: `pagination` is {} on the last page."""
    return {"data": clips, "pagination": {"cursor": cursor} if cursor else {}}


def helix_time(moment: datetime) -> str:
    """RFC 3339 in UTC, as Helix writes and expects it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serve_clips(
    mock,
    page: dict | None = None,
    *,
    start: datetime,
    end: datetime,
    after: str | None = None,
    status: int = 200,
    broadcaster_id: str = BROADCASTER_ID,
) -> None:
    """Answer the Helix GET /clips query for exactly this broadcaster, window and cursor."""
    params = {
        "broadcaster_id": broadcaster_id,
        "started_at": helix_time(start),
        "ended_at": helix_time(end),
        "first": "100",
    }
    if after:
        params["after"] = after
    mock.get(CLIPS_URL, match=[matchers.query_param_matcher(params)], json=page or {}, status=status)


def clip_requests(mock) -> list[dict[str, str]]:
    """The query parameters of every Helix GET /clips request, in order."""
    clips_path = urlsplit(CLIPS_URL).path
    return [
        dict(parse_qsl(urlsplit(call.request.url).query))
        for call in mock.calls
        if urlsplit(call.request.url).path == clips_path
    ]


def helix_users(**fields) -> dict:
    """fixtures/twitch/users.json (GET /users), its user's fields replaced by the keyword arguments."""
    answer = load_fixture("twitch/users.json")
    answer["data"][0].update(fields)
    return answer


def helix_downloads(clip_id: str, *, landscape: str | None, portrait: str | None = None) -> dict:
    """fixtures/twitch/clips.downloads.json (GET /clips/downloads) for this clip and these links."""
    answer = load_fixture("twitch/clips.downloads.json")
    answer["data"][0].update(clip_id=clip_id, landscape_download_url=landscape, portrait_download_url=portrait)
    return answer


# --- Remotion Lambda -------------------------------------------------------------------------------

REMOTION_WEBHOOK_SECRET = "remotion-test-webhook-secret"
REMOTION_WEBHOOK_URL = "/webhooks/remotion/"
REMOTION_BUCKET = "remotionlambda-useast1-abc123"


def remotion_signature(body: bytes, secret: str = REMOTION_WEBHOOK_SECRET) -> str:
    """X-Remotion-Signature: HMAC-SHA512 of the exact body bytes."""
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def remotion_webhook(kind: str, *, render_id: str, job_id: str, bucket: str = REMOTION_BUCKET, **fields) -> dict:
    """fixtures/remotion/<kind>.json (success, error or timeout) for this render of our job."""
    payload = load_fixture(f"remotion/{kind}.json")
    payload.update(renderId=render_id, bucketName=bucket, customData={"job": job_id})
    if kind == "success":
        output = f"https://{bucket}.s3.us-east-1.amazonaws.com/renders/{render_id}/out.mp4"
        payload.update(outputUrl=output, outputFile=output)
    return {**payload, **fields}


def remotion_delivery(payload: dict, *, secret: str = REMOTION_WEBHOOK_SECRET) -> tuple[bytes, dict]:
    """A webhook body as Remotion sends it (compact JSON) and its signed headers."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {
        "HTTP_X_REMOTION_SIGNATURE": remotion_signature(body, secret),
        "HTTP_X_REMOTION_STATUS": payload.get("type", ""),
        "HTTP_X_REMOTION_MODE": "production",
    }


def post_remotion_webhook(client, payload: dict, *, secret: str = REMOTION_WEBHOOK_SECRET):
    """POST a Remotion delivery to our webhook endpoint, signed as Remotion signs it."""
    body, headers = remotion_delivery(payload, secret=secret)
    return client.post(REMOTION_WEBHOOK_URL, data=body, content_type="application/json", **headers)


@dataclass
class Invocation:
    client: object
    function_name: str
    payload: dict


class FakeLambda:
    """Answers the Remotion SDK's `lambda.invoke` calls in-process (see the `fake_lambda` fixture).

    `answer()` queues answers for calls in order, `answer_for()` answers the calls about one render;
    an answer is a response dict or an exception to raise. A start with no queued answer succeeds
    with a fresh render id; any other call needs an answer.
    """

    def __init__(self):
        self.calls: list[Invocation] = []
        self.answers: list = []
        self.by_render: dict[str, list] = {}
        self._ids = itertools.count(1)

    def answer(self, *answers) -> None:
        self.answers.extend(answers)

    def answer_for(self, render_id: str, *answers) -> None:
        self.by_render.setdefault(render_id, []).extend(answers)

    def invoke(self, client, params: dict) -> dict:
        payload = json.loads(params["Payload"])
        self.calls.append(Invocation(client, params["FunctionName"], payload))
        queue = self.by_render.get(payload.get("renderId")) or self.answers
        if queue:
            answer = queue.pop(0)
        elif payload.get("type") == "start":
            answer = {"type": "success", "renderId": f"render-{next(self._ids)}", "bucketName": REMOTION_BUCKET}
        else:
            raise AssertionError(f"Lambda was invoked with no answer queued: {payload}")
        if isinstance(answer, Exception):
            raise answer
        body = json.dumps(answer).encode()
        return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}

    @property
    def starts(self) -> list[dict]:
        return [call.payload for call in self.calls if call.payload.get("type") == "start"]


# --- PostHog ---------------------------------------------------------------------------------------

POSTHOG_HOST = "https://posthog.creatorsync.test"
POSTHOG_PROJECT_KEY = "phc_test_project_key"
POSTHOG_BATCH_URL = f"{POSTHOG_HOST}/batch/"
POSTHOG_FLAGS_URL = f"{POSTHOG_HOST}/flags/?v=4"


def remote_flag(key: str, *, enabled: bool = True, variant: str | None = None, payload=None) -> dict:
    """One record of a /flags?v=4 answer; PostHog sends payloads as JSON text."""
    return {
        "key": key,
        "enabled": enabled,
        "variant": variant,
        "reason": {"code": "condition_match", "description": "Matched condition set 1", "condition_index": 0},
        "metadata": {"id": 7, "version": 3, "payload": json.dumps(payload) if payload is not None else None},
    }


def flags_answer(*records: dict) -> dict:
    return {"flags": {record["key"]: record for record in records}, "errorsWhileComputingFlags": False}


def posthog_bodies(mock) -> list[str]:
    """Every request body sent to PostHog, as text."""
    bodies = [call.request.body for call in mock.calls if call.request.url.startswith(POSTHOG_HOST)]
    return [body.decode() if isinstance(body, bytes) else body or "" for body in bodies]


# Nothing sent to PostHog may contain any of these: every secret and token the fakes above hand out.
KNOWN_SECRETS = (
    CLERK_SECRET_KEY,
    CLERK_WEBHOOK_SECRET,
    CLERK_WEBHOOK_SECRET.removeprefix("whsec_"),
    REMOTION_WEBHOOK_SECRET,
    TWITCH_CLIENT_SECRET,
    TWITCH_APP_TOKEN,
    TWITCH_USER_TOKEN,
    "Bearer ",
)


# --- Speech recognition: OpenAI-compatible transcription API and Deepgram --------------------------
# Words are given as (text, start, end) tuples, in seconds; the answers are fixtures/openai/ and
# fixtures/deepgram/ with those words. `configure_transcription(settings)` points the client here.

TRANSCRIPTION_API_URL = "https://api.openai.test/v1"
OPENAI_TRANSCRIPTIONS_URL = f"{TRANSCRIPTION_API_URL}/audio/transcriptions"
DEEPGRAM_API_URL = "https://api.deepgram.test/v1"
DEEPGRAM_LISTEN_URL = f"{DEEPGRAM_API_URL}/listen"
TRANSCRIPTION_API_KEY = "sk-test-transcription-0123456789abcdef"

# Whisper's error answers, by status: {"error": {message, type, param, code}}.
_OPENAI_ERRORS = {
    400: (
        "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', "
        "'wav', 'webm']",
        "invalid_request_error",
        None,
    ),
    401: (
        f"Incorrect API key provided: {TRANSCRIPTION_API_KEY}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    413: ("Maximum content size limit (26214400) exceeded (26843545 bytes read)", "server_error", None),
    429: (
        "Rate limit reached for whisper-1 in organization org-creatorsync on requests per min (RPM): Limit 50, "
        "Used 50, Requested 1. Please try again in 1.2s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
}


def configure_transcription(settings, backend: str = "openai") -> None:
    """Transcription settings pointing at these fakes, with `backend` ("openai" or "deepgram", "" for auto)."""
    settings.TRANSCRIPTION_BACKEND = backend
    settings.TRANSCRIPTION_API_KEY = TRANSCRIPTION_API_KEY
    settings.TRANSCRIPTION_API_URL = TRANSCRIPTION_API_URL
    settings.TRANSCRIPTION_MODEL = "whisper-1"
    settings.DEEPGRAM_API_URL = DEEPGRAM_API_URL
    settings.DEEPGRAM_MODEL = "nova-3"
    settings.TRANSCRIPTION_TIMEOUT_SECONDS = 120.0
    settings.TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS = 30.0


def openai_transcription(words=None, *, language: str = "english") -> dict:
    """fixtures/openai/transcription.verbose_json.json with these words (default: the recorded ones).

    `language` is Whisper's language name; `text`, `duration` and the one segment follow the words.
    """
    answer = load_fixture("openai/transcription.verbose_json.json")
    answer["language"] = language
    if words is None:
        return answer
    words = [{"word": text, "start": start, "end": end} for text, start, end in words]
    text = " ".join(word["word"].strip() for word in words)
    end = max((word["end"] for word in words), default=0.0)
    segment = {**answer["segments"][0], "start": words[0]["start"] if words else 0.0, "end": end, "text": f" {text}"}
    answer.update(text=text, words=words, duration=max(end, 1.0), segments=[segment] if words else [])
    return answer


def openai_error(status: int) -> dict:
    message, error_type, code = _OPENAI_ERRORS.get(status, _OPENAI_ERRORS[500])
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def serve_openai_transcription(mock, words=None, *, language: str = "english", status: int = 200, **kwargs) -> None:
    """The transcription endpoint answers once: `openai_transcription(words, language)`, or an error body
    in OpenAI's shape when `status` is 400 or more. Other keyword arguments go to `responses` (headers=…)."""
    body = openai_transcription(words, language=language) if status < 400 else openai_error(status)
    mock.post(OPENAI_TRANSCRIPTIONS_URL, json=body, status=status, **kwargs)


def deepgram_listen(words=None, *, language: str | None = "en") -> dict:
    """fixtures/deepgram/listen.json with these words (default: the recorded ones).

    Each word's `word` is its lowercase, unpunctuated form, as Deepgram writes it; `language` is
    the detected language (None: Deepgram was told the language, so detected nothing).
    """
    answer = load_fixture("deepgram/listen.json")
    channel = answer["results"]["channels"][0]
    if language is None:
        channel.pop("detected_language")
        channel.pop("language_confidence")
    else:
        channel["detected_language"] = language
    if words is None:
        return answer
    alternative = channel["alternatives"][0]
    alternative["words"] = [
        {
            "word": text.strip().strip(".,!?").lower(),
            "start": start,
            "end": end,
            "confidence": 0.99,
            "punctuated_word": text,
        }
        for text, start, end in words
    ]
    alternative["transcript"] = " ".join(text.strip() for text, _, _ in words)
    alternative.pop("paragraphs", None)
    answer["metadata"]["duration"] = max([1.0, *(end for _, _, end in words)])
    return answer


def deepgram_error(status: int) -> dict:
    codes = {400: "Bad Request", 401: "INVALID_AUTH", 402: "ASR_PAYMENT_REQUIRED", 413: "PAYLOAD_TOO_LARGE"}
    messages = {
        400: "Bad Request: failed to process audio: corrupt or unsupported data",
        401: "Invalid credentials.",
        402: "Project does not have enough credits for an ASR request.",
        413: "Payload too large.",
        429: "Too many requests. Please try again later.",
    }
    return {
        "err_code": codes.get(status, "INTERNAL_SERVER_ERROR"),
        "err_msg": messages.get(status, "Internal server error."),
        "request_id": "4c1d2b5e-8f3a-4d67-9b1e-2a7c5f0e9d31",
    }


def serve_deepgram_listen(mock, words=None, *, language: str | None = "en", status: int = 200, **kwargs) -> None:
    """Deepgram's /listen answers once (whatever the query): `deepgram_listen(words, language)`, or an
    error body in Deepgram's shape when `status` is 400 or more."""
    body = deepgram_listen(words, language=language) if status < 400 else deepgram_error(status)
    mock.post(DEEPGRAM_LISTEN_URL, json=body, status=status, **kwargs)


@dataclass(frozen=True)
class FormPart:
    name: str
    value: bytes
    filename: str | None
    content_type: str | None


def multipart_parts(request) -> list[FormPart]:
    """The parts of a recorded multipart/form-data request, in order (a repeated field appears each time)."""
    from email.parser import BytesParser  # here, not at the top: this block is appended to the module

    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    message = BytesParser().parsebytes(f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + body)
    return [
        FormPart(
            name=part.get_param("name", header="content-disposition"),
            value=part.get_payload(decode=True),
            filename=part.get_filename(),
            content_type=part.get("Content-Type"),
        )
        for part in message.get_payload()
    ]


def multipart_fields(request) -> list[tuple[str, str]]:
    """The plain (non-file) fields of a recorded multipart request, as (name, value) in order."""
    return [(part.name, part.value.decode()) for part in multipart_parts(request) if part.filename is None]


# Nothing sent to PostHog may contain the transcription key either (see KNOWN_SECRETS above).
KNOWN_SECRETS = (*KNOWN_SECRETS, TRANSCRIPTION_API_KEY)


# --- Twitch EventSub ------------------------------------------------------------------------------
# Deliveries are the fixtures/twitch/eventsub.*.json bodies, signed as Twitch signs them: HMAC-SHA256
# with the subscription's secret over message id + timestamp + raw body, sent as "sha256=<hex>".
# The Helix answers are fixtures/twitch/eventsub.create.json, eventsub.list.page{1,2}.json and videos.json.

EVENTSUB_SECRET = "eventsub-test-secret-5f0c9a2e"  # 10 to 100 ASCII characters, as Twitch requires
EVENTSUB_SUBSCRIPTIONS_URL = f"{TWITCH_API_URL}/eventsub/subscriptions"
VIDEOS_URL = f"{TWITCH_API_URL}/videos"
EVENTSUB_CALLBACK = "https://app.creatorsync.test/webhooks/twitch/eventsub/"


def eventsub_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 with nanoseconds, as Twitch writes Twitch-Eventsub-Message-Timestamp (default: now)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "417Z"


def eventsub_headers(
    body: bytes,
    *,
    secret: str = EVENTSUB_SECRET,
    message_type: str = "notification",
    message_id: str | None = None,
    timestamp: datetime | str | None = None,
    subscription_type: str = "stream.offline",
) -> dict[str, str]:
    """The headers Twitch sends with `body`, signed with `secret`. `timestamp` is a datetime (written with
    nanoseconds), the exact header text, or None for now; `message_id` defaults to a fresh UUID.
    Pass them to Django's test client as `headers=` (with `content_type="application/json"`)."""
    if message_id is None:
        hex_id = secrets.token_hex(16)
        message_id = f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
    if not isinstance(timestamp, str):
        timestamp = eventsub_timestamp(timestamp)
    signed = message_id.encode() + timestamp.encode() + body
    return {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Retry": "0",
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Message-Signature": "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Subscription-Type": subscription_type,
        "Twitch-Eventsub-Subscription-Version": "1",
    }


_EVENTSUB_MESSAGE_TYPES = {
    "stream.online": "notification",
    "stream.offline": "notification",
    "verification": "webhook_callback_verification",
    "revocation": "revocation",
}


def eventsub_payload(
    kind: str,
    *,
    subscription_id: str | None = None,
    broadcaster_id: str | None = None,
    status: str | None = None,
    challenge: str | None = None,
    **event_fields,
) -> dict:
    """fixtures/twitch/eventsub.<kind>.json (stream.online, stream.offline, verification or revocation),
    for this subscription id, broadcaster, subscription status and challenge; other keyword arguments
    replace fields of the event (notifications only)."""
    payload = load_fixture(f"twitch/eventsub.{kind}.json")
    subscription = payload["subscription"]
    if subscription_id:
        subscription["id"] = subscription_id
    if status:
        subscription["status"] = status
    if broadcaster_id:
        subscription["condition"]["broadcaster_user_id"] = broadcaster_id
        if "event" in payload:
            payload["event"]["broadcaster_user_id"] = broadcaster_id
    if challenge is not None:
        payload["challenge"] = challenge
    if event_fields:
        payload["event"].update(event_fields)
    return payload


def eventsub_delivery(
    payload: dict, *, secret: str = EVENTSUB_SECRET, message_type: str | None = None, **header_options
) -> tuple[bytes, dict[str, str]]:
    """A delivery as Twitch sends it: the compact JSON body and its signed headers. The message type
    follows from the body (challenge: verification; event: notification; neither: revocation) unless
    given; `header_options` go to `eventsub_headers` (message_id, timestamp)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    if message_type is None:
        message_type = (
            "webhook_callback_verification"
            if "challenge" in payload
            else "notification"
            if "event" in payload
            else "revocation"
        )
    header_options.setdefault("subscription_type", payload["subscription"]["type"])
    return body, eventsub_headers(body, secret=secret, message_type=message_type, **header_options)


def helix_eventsub_created(**fields) -> dict:
    """fixtures/twitch/eventsub.create.json (the 202 of POST /eventsub/subscriptions), its subscription's
    fields replaced by the keyword arguments."""
    answer = load_fixture("twitch/eventsub.create.json")
    answer["data"][0].update(fields)
    return answer


def helix_archive_videos(**fields) -> dict:
    """fixtures/twitch/videos.json (GET /videos?type=archive), its newest video's fields replaced."""
    answer = load_fixture("twitch/videos.json")
    answer["data"][0].update(fields)
    return answer


# Nothing sent to PostHog may contain the EventSub secret either (see KNOWN_SECRETS above).
KNOWN_SECRETS = (*KNOWN_SECRETS, EVENTSUB_SECRET)
