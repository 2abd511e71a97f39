"""A stateful fake of TikTok's Content Posting API (Direct Post, FILE_UPLOAD), on the `mocked_http` fixture.

It keeps what real TikTok keeps (posts, the bytes received, each post's status) and enforces what real
TikTok enforces: the user token, the privacy level among the creator's options, the chunk rules of the
Media Transfer Guide, chunks in order with matching Content-Range. Answers are built from the recorded
shapes in fixtures/tiktok/. Knobs (plain attributes, changeable mid-test) make it misbehave:

- `privacy_options`: the creator's privacy_level_options (all four; ["SELF_ONLY"] as for an unaudited app).
- `refuse_token`: every API call answers 401 access_token_invalid (as does a token other than `valid_token`).
- `rate_limit_inits = n`: the next n inits answer 429 rate_limit_exceeded.
- `init_error = code`: every init answers that TikTok error (spam_risk_too_many_posts,
  unaudited_client_can_only_post_to_private_accounts, scope_not_authorized, ...) with its HTTP status.
- `fail_next_chunks = n`: the next n chunk PUTs answer 503 (nothing stored).
- `lose_final_chunk_response`: the final chunk is stored and the post completes, but the client gets a
  requests.ConnectionError instead of the 201 (each time it re-sends it, too).
- `processing_fetches = n`: after the upload, n status fetches answer PROCESSING_UPLOAD before it settles.
- `fail_publish = reason`: the post settles as FAILED with that fail_reason.
- `moderation`: the post settles as PUBLISH_COMPLETE with an empty publicaly_available_post_id list
  until `finish_moderation(publish_id)`.
"""

import itertools
import json
import re
from collections.abc import Callable

import requests

from integrations.tests.fakes import load_fixture

TIKTOK_API_URL = "https://tiktok.test"
TIKTOK_UPLOAD_URL = "https://tiktok-upload.test"  # another host, as TikTok's upload URLs are
VALID_TOKEN = "act.test-token"
ALL_PRIVACY_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]

MB = 1024 * 1024
TITLE_MAX_CHARS = 2200

# HTTP statuses TikTok documents for its error codes (Direct Post reference, API v2 error handling).
ERROR_STATUSES = {
    "access_token_invalid": 401,
    "scope_not_authorized": 401,
    "invalid_params": 400,
    "rate_limit_exceeded": 429,
    "privacy_level_option_mismatch": 400,
    "spam_risk_too_many_posts": 403,
    "spam_risk_user_banned_from_posting": 403,
    "reached_active_user_cap": 403,
    "unaudited_client_can_only_post_to_private_accounts": 403,
}
ERROR_FIXTURES = {
    "access_token_invalid": "tiktok/error.access_token_invalid.json",
    "rate_limit_exceeded": "tiktok/error.rate_limit_exceeded.json",
    "unaudited_client_can_only_post_to_private_accounts": "tiktok/error.unaudited_client.json",
}

Answer = tuple[int, dict[str, str], str] | Exception


class FakeTikTok:
    def __init__(self, mocked_http, base_url: str = TIKTOK_API_URL, *, upload_base: str = TIKTOK_UPLOAD_URL):
        self.base_url = base_url.rstrip("/")
        self.upload_base = upload_base.rstrip("/")
        self.valid_token = VALID_TOKEN
        # Knobs.
        self.privacy_options: list[str] = list(ALL_PRIVACY_LEVELS)
        self.refuse_token = False
        self.rate_limit_inits = 0
        self.init_error: str | None = None
        self.fail_next_chunks = 0
        self.lose_final_chunk_response = False
        self.processing_fetches = 0
        self.fail_publish: str | None = None
        self.moderation = False
        # State.
        self.inits: list[dict] = []  # every init body received, refused ones included
        self.posts: dict[str, dict] = {}  # publish_id -> the post (see _init)
        self._ids = itertools.count(1)
        self._log_ids = itertools.count(1)

        api = re.escape(self.base_url)
        mocked_http.add_callback(
            "POST", re.compile(api + r"/v2/post/publish/creator_info/query/$"), self._api(self._creator_info)
        )
        mocked_http.add_callback("POST", re.compile(api + r"/v2/post/publish/video/init/$"), self._api(self._init))
        mocked_http.add_callback("POST", re.compile(api + r"/v2/post/publish/status/fetch/$"), self._api(self._status))
        mocked_http.add_callback(
            "PUT", re.compile(re.escape(self.upload_base) + r"/upload/\?upload_id=(\d+)$"), self._upload
        )

    # --- for tests ---------------------------------------------------------------------------------

    def published(self) -> int:
        """How many posts reached PUBLISH_COMPLETE: more than one for one video is a duplicate post."""
        return sum(post["status"] == "PUBLISH_COMPLETE" for post in self.posts.values())

    def finish_moderation(self, publish_id: str) -> None:
        """Moderation passed: status fetches now show the post id."""
        self.posts[publish_id]["moderating"] = False

    def expire_upload_url(self, publish_id: str) -> None:
        """The hour is up: the post's upload URL refuses every chunk."""
        self.posts[publish_id]["upload_expired"] = True

    def post(self, index: int = -1) -> dict:
        """A post by creation order (the last one by default)."""
        return list(self.posts.values())[index]

    # --- endpoints -----------------------------------------------------------------------------------

    def _api(self, handler: Callable[[dict], Answer]) -> Callable:
        """Checks every open.tiktokapis.com endpoint makes: the user token and a JSON content type."""

        def callback(request) -> Answer:
            if self.refuse_token or request.headers.get("Authorization") != f"Bearer {self.valid_token}":
                return self._error("access_token_invalid")
            if not request.headers.get("Content-Type", "").startswith("application/json"):
                return self._error("invalid_params", "Content-Type must be application/json; charset=UTF-8.")
            try:
                body = json.loads(request.body) if request.body else {}
            except ValueError:
                return self._error("invalid_params", "The request body is not JSON.")
            return handler(body)

        return callback

    def _creator_info(self, body: dict) -> Answer:
        answer = load_fixture("tiktok/creator_info.json")
        answer["data"]["privacy_level_options"] = list(self.privacy_options)
        return self._ok(answer)

    def _init(self, body: dict) -> Answer:
        self.inits.append(body)
        if self.rate_limit_inits > 0:
            self.rate_limit_inits -= 1
            return self._error("rate_limit_exceeded")
        if self.init_error:
            return self._error(self.init_error)
        post_info, source = body.get("post_info"), body.get("source_info")
        if not isinstance(post_info, dict) or not isinstance(source, dict):
            return self._error("invalid_params", "post_info and source_info are required.")
        if source.get("source") != "FILE_UPLOAD":
            return self._error("invalid_params", "This fake only takes source FILE_UPLOAD.")
        privacy = post_info.get("privacy_level")
        if privacy not in self.privacy_options:
            return self._error("privacy_level_option_mismatch", f"privacy_level {privacy} is not an option.")
        if len(post_info.get("title") or "") > TITLE_MAX_CHARS:
            return self._error("invalid_params", "The title is too long.")
        size, chunk, count = (source.get(key) for key in ("video_size", "chunk_size", "total_chunk_count"))
        problem = chunk_rules_problem(size, chunk, count)
        if problem:
            return self._error("invalid_params", problem)

        number = next(self._ids)
        publish_id = f"v_pub_file~v2-1.{7559204187353450000 + number}"
        upload_url = f"{self.upload_base}/upload/?upload_id={number}"
        self.posts[publish_id] = {
            "publish_id": publish_id,
            "upload_id": str(number),
            "upload_url": upload_url,
            "post_info": post_info,
            "size": size,
            "chunk_size": chunk,
            "total_chunk_count": count,
            "data": bytearray(),
            "received": 0,  # bytes stored
            "chunks": [],  # indexes stored, in order
            "upload_complete": False,
            "upload_expired": False,
            "fetches_before_settling": None,  # set when the upload completes
            "status": "PROCESSING_UPLOAD",
            "fail_reason": None,
            "post_id": None,
            "moderating": False,
        }
        answer = load_fixture("tiktok/video_init.json")
        answer["data"] = {"publish_id": publish_id, "upload_url": upload_url}
        return self._ok(answer)

    def _status(self, body: dict) -> Answer:
        post = self.posts.get(body.get("publish_id"))
        if post is None:
            return self._error("invalid_params", "publish_id not found.")
        if post["upload_complete"] and post["status"] == "PROCESSING_UPLOAD":
            if post["fetches_before_settling"] > 0:
                post["fetches_before_settling"] -= 1
            else:
                self._settle(post)
        status = post["status"]
        if status == "FAILED":
            answer = load_fixture("tiktok/status.failed.json")
            answer["data"]["fail_reason"] = post["fail_reason"]
        elif status == "PUBLISH_COMPLETE":
            answer = load_fixture("tiktok/status.publish_complete.json")
            answer["data"]["publicaly_available_post_id"] = [] if post["moderating"] else [int(post["post_id"])]
        else:
            answer = load_fixture("tiktok/status.processing_upload.json")
            answer["data"]["status"] = status
        answer["data"]["uploaded_bytes"] = post["received"]
        return self._ok(answer)

    def _settle(self, post: dict) -> None:
        if self.fail_publish:
            post.update(status="FAILED", fail_reason=self.fail_publish)
        else:
            post_id = str(7559204390117690000 + int(post["upload_id"]))
            post.update(status="PUBLISH_COMPLETE", post_id=post_id, moderating=self.moderation)

    def _upload(self, request) -> Answer:
        upload_id = re.search(r"upload_id=(\d+)", request.url).group(1)
        post = next((post for post in self.posts.values() if post["upload_id"] == upload_id), None)
        if post is None:
            return self._upload_error(404, "Unknown upload.")
        if post["upload_expired"]:
            return self._upload_error(403, "The upload URL has expired.")
        if self.fail_next_chunks > 0:
            self.fail_next_chunks -= 1
            return 503, {}, ""
        if request.headers.get("Content-Type") != "video/mp4":
            return self._upload_error(400, "Content-Type must be video/mp4.")
        body = request.body or b""
        if request.headers.get("Content-Length") != str(len(body)):
            return self._upload_error(400, "Content-Length does not match the body.")
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("Content-Range", ""))
        if not match:
            return self._upload_error(400, "Content-Range must be bytes <first>-<last>/<total>.")
        first, last, total = (int(value) for value in match.groups())
        chunk, count, size = post["chunk_size"], post["total_chunk_count"], post["size"]
        index = min(first // chunk, count - 1)
        expected = (index * chunk, size - 1 if index == count - 1 else index * chunk + chunk - 1)
        if total != size or (first, last) != expected or len(body) != last - first + 1:
            return self._upload_error(416, f"Expected bytes {expected[0]}-{expected[1]}/{size}.")
        final = index == count - 1
        stored = len(post["chunks"])
        if index > stored:
            return self._upload_error(400, f"Chunks go in order: chunk {stored} is next, not {index}.")
        if index == stored:
            post["data"].extend(body)
            post["received"] += len(body)
            post["chunks"].append(index)
            if final:
                post["upload_complete"] = True
                post["fetches_before_settling"] = self.processing_fetches
        elif bytes(post["data"][first : last + 1]) != body:
            return self._upload_error(400, f"Chunk {index} was sent again with other bytes.")
        # A chunk sent again (its answer was lost) is accepted as before.
        if final and self.lose_final_chunk_response:
            return requests.ConnectionError("Connection reset by peer (fake: the 201 was lost)")
        return (201 if final else 206), {}, ""

    # --- answers -------------------------------------------------------------------------------------

    def _log_id(self) -> str:
        return f"20251010143000{next(self._log_ids):020X}"

    def _ok(self, answer: dict) -> Answer:
        answer["error"]["log_id"] = self._log_id()
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    def _error(self, code: str, message: str | None = None) -> Answer:
        if code in ERROR_FIXTURES:
            answer = load_fixture(ERROR_FIXTURES[code])
        else:
            answer = {"data": {}, "error": {"code": code, "message": message or code, "log_id": ""}}
        if message:
            answer["error"]["message"] = message
        answer["error"]["log_id"] = self._log_id()
        return ERROR_STATUSES.get(code, 400), {"Content-Type": "application/json"}, json.dumps(answer)

    def _upload_error(self, status: int, message: str) -> Answer:
        answer = {"error": {"code": "invalid_file_upload", "message": message, "log_id": self._log_id()}}
        return status, {"Content-Type": "application/json"}, json.dumps(answer)


def chunk_rules_problem(size, chunk, count) -> str | None:
    """What breaks TikTok's chunk rules (Media Transfer Guide) in a source_info, or None."""
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (size, chunk, count)):
        return "video_size, chunk_size and total_chunk_count must be integers."
    if size <= 0:
        return "video_size must be positive."
    if size < 5 * MB:
        return None if chunk == size and count == 1 else "A video under 5 MB goes in one chunk of its whole size."
    if not 5 * MB <= chunk <= 64 * MB:
        return "chunk_size must be 5 MB to 64 MB."
    if count != size // chunk:
        return "total_chunk_count must be video_size / chunk_size, rounded down."
    if not 1 <= count <= 1000:
        return "There must be 1 to 1000 chunks."
    if count == 1 and size > 64 * MB:
        return "A video over 64 MB goes in several chunks."
    if size - (count - 1) * chunk > 128 * MB:
        return "The final chunk may not exceed 128 MB."
    return None
