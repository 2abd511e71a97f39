"""A stateful fake of YouTube's resumable upload and videos.list, registered on a `responses.RequestsMock`.

It speaks the protocol the way YouTube does (see /work/shared/reference/publishing.md): sessions hold
the bytes they received, chunks answer 308 with `Range: bytes=0-<last>`, the last one answers 200 with
the video, a status query (`Content-Range: bytes */<size>`) tells where the session stands, and a
finished session keeps answering with its one video. Fault knobs let tests break it on purpose.
"""

import json
import re
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from integrations.tests.fakes import load_fixture

YOUTUBE_TEST_URL = "https://youtube.test"
VALID_TOKEN = "ya29.test-token"
UPLOAD_GRANULARITY = 256 * 1024
UPLOAD_STATUSES = ("uploaded", "processed", "rejected", "failed")
# Status fields of a stored video that videos.list reports over the fixture's.
_LISTED_STATUS_FIELDS = (
    "uploadStatus",
    "privacyStatus",
    "publishAt",
    "selfDeclaredMadeForKids",
    "rejectionReason",
    "failureReason",
)
_CONTENT_RANGE = re.compile(r"bytes (?:\*|(\d+)-(\d+))/(\d+)")
_JSON = {"Content-Type": "application/json; charset=UTF-8"}


class FakeYouTube:
    """YouTube for one test. State: `sessions` (session URI -> {"metadata", "size", "received": bytearray,
    "video_id"}), `videos` (id -> video resource), `requests_log` (one dict per request: kind create/chunk/
    query/list, url, headers, content_range, bytes, status), `created_sessions`.

    Knobs: `valid_token`, `refuse_token` (401 authError to everything), `quota_exceeded` and
    `upload_limit_exceeded` (on session create), `fail_next_creates` (503s), `fail_next_chunks` (503s on
    chunk PUTs, storing nothing), `drop_next_chunks` (ConnectionError on chunk PUTs, storing nothing),
    `accept_only_bytes` (the next chunk keeps only its first k bytes), `lose_final_response` (the last
    chunk creates the video, then the client gets a ConnectionError), `unaudited` (videos locked
    private), `default_upload_status`, `expire_sessions()`, `set_upload_status()`.
    """

    def __init__(
        self, mock: responses.RequestsMock, *, base_url: str = YOUTUBE_TEST_URL, valid_token: str = VALID_TOKEN
    ):
        self.base_url = base_url.rstrip("/")
        self.valid_token = valid_token
        self.sessions: dict[str, dict] = {}
        self.videos: dict[str, dict] = {}
        self.requests_log: list[dict] = []
        self.created_sessions = 0
        self.default_upload_status = "uploaded"
        self.refuse_token = False
        self.quota_exceeded = False
        self.upload_limit_exceeded = False
        self.unaudited = False
        self.fail_next_creates = 0
        self.fail_next_chunks = 0
        self.drop_next_chunks = 0
        self.accept_only_bytes: int | None = None
        self.lose_final_response = False
        self._expired: set[str] = set()
        base = re.escape(self.base_url)
        mock.add_callback("POST", re.compile(rf"{base}/upload/youtube/v3/videos\?"), callback=self._create)
        mock.add_callback("PUT", re.compile(rf"{base}/upload/youtube/v3/videos\?.*upload_id="), callback=self._put)
        mock.add_callback("GET", re.compile(rf"{base}/youtube/v3/videos\?"), callback=self._list)

    # --- controls ------------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """Every session known so far answers 404 from now on, as after about a week."""
        self._expired.update(self.sessions)

    def set_upload_status(self, video_id: str, status: str, *, reason: str | None = None) -> None:
        """Move a video along processing; `reason` is the rejectionReason or failureReason (else the fixture's)."""
        if status not in UPLOAD_STATUSES:
            raise ValueError(f"status must be one of {UPLOAD_STATUSES}")
        video_status = self.videos[video_id]["status"]
        video_status["uploadStatus"] = status
        video_status.pop("rejectionReason", None)
        video_status.pop("failureReason", None)
        if reason is not None and status in ("rejected", "failed"):
            video_status["rejectionReason" if status == "rejected" else "failureReason"] = reason

    def chunks(self) -> list[dict]:
        """The chunk PUTs received, in order (status queries left out)."""
        return [entry for entry in self.requests_log if entry["kind"] == "chunk"]

    def queries(self) -> list[dict]:
        return [entry for entry in self.requests_log if entry["kind"] == "query"]

    # --- endpoints -----------------------------------------------------------------------------

    def _create(self, request):
        log = self._log("create", request)
        if not self._authorized(request):
            return self._refuse(log)
        if self.fail_next_creates:
            self.fail_next_creates -= 1
            return self._answer(log, 503, _JSON, load_fixture("youtube/error.backendError.json"))
        if self.quota_exceeded:
            return self._answer(log, 403, _JSON, load_fixture("youtube/error.quotaExceeded.json"))
        if self.upload_limit_exceeded:
            return self._answer(log, 400, _JSON, load_fixture("youtube/error.uploadLimitExceeded.json"))
        params = parse_qs(urlsplit(request.url).query)
        parts = set(params.get("part", [""])[0].split(","))
        if params.get("uploadType") != ["resumable"] or not {"snippet", "status"} <= parts:
            return self._answer(log, 400, _JSON, _google_error(400, "badRequest", "Bad uploadType or part."))
        size = request.headers.get("X-Upload-Content-Length", "")
        if not size.isdigit() or int(size) == 0:
            return self._answer(log, 400, _JSON, _google_error(400, "badRequest", "Bad X-Upload-Content-Length."))
        try:
            metadata = json.loads(request.body or b"{}")
        except ValueError:
            return self._answer(log, 400, _JSON, _google_error(400, "parseError", "Parse Error"))
        log["body"] = metadata
        title = (metadata.get("snippet") or {}).get("title") or ""
        if not title.strip() or len(title) > 100 or "<" in title or ">" in title:
            return self._answer(log, 400, _JSON, load_fixture("youtube/error.invalidTitle.json"))
        description = (metadata.get("snippet") or {}).get("description") or ""
        if len(description.encode()) > 5000 or "<" in description or ">" in description:
            return self._answer(log, 400, _JSON, _google_error(400, "invalidDescription", "Invalid description."))
        self.created_sessions += 1
        session_url = f"{self.base_url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={self.created_sessions}"
        self.sessions[session_url] = {
            "metadata": metadata,
            "size": int(size),
            "received": bytearray(),
            "video_id": None,
        }
        return self._answer(log, 200, {"Location": session_url, "X-GUploader-UploadID": str(self.created_sessions)}, "")

    def _put(self, request):
        body = request.body or b""
        content_range = request.headers.get("Content-Range", "")
        log = self._log("query" if content_range.startswith("bytes */") else "chunk", request, len(body))
        if not self._authorized(request):
            return self._refuse(log)
        session = self.sessions.get(request.url)
        if session is None or request.url in self._expired:
            return self._answer(log, 404, {"Content-Type": "text/plain; charset=UTF-8"}, "Not Found")
        match = _CONTENT_RANGE.fullmatch(content_range)
        if match is None or int(match[3]) != session["size"]:
            return self._answer(log, 400, _JSON, _google_error(400, "badContent", "Bad Content-Range."))
        if session["video_id"] is not None:
            # A finished session answers with its video, whatever is sent: never a second video.
            return self._answer(log, 200, _JSON, self.videos[session["video_id"]])
        if log["kind"] == "query":
            return self._resume_incomplete(log, session)
        if self.drop_next_chunks:
            self.drop_next_chunks -= 1
            log["status"] = "dropped"
            raise requests.ConnectionError("FakeYouTube dropped the connection")
        if self.fail_next_chunks:
            self.fail_next_chunks -= 1
            return self._answer(log, 503, _JSON, load_fixture("youtube/error.backendError.json"))
        first, last, size = int(match[1]), int(match[2]), int(match[3])
        if last < first or last >= size or last - first + 1 != len(body):
            return self._answer(log, 400, _JSON, _google_error(400, "badContent", "Content-Range and body disagree."))
        if first != len(session["received"]):
            # As YouTube does: a chunk that does not start where the session stands is answered with where it stands.
            return self._resume_incomplete(log, session)
        if last + 1 < size and len(body) % UPLOAD_GRANULARITY:
            return self._answer(
                log, 400, _JSON, _google_error(400, "badContent", "A chunk that is not the last must be 256 KiB.")
            )
        kept = body if self.accept_only_bytes is None else body[: self.accept_only_bytes]
        self.accept_only_bytes = None
        session["received"].extend(kept)
        if len(session["received"]) < size:
            return self._resume_incomplete(log, session)
        video = self._new_video(session)
        if self.lose_final_response:
            self.lose_final_response = False
            log["status"] = "dropped"
            raise requests.ConnectionError("FakeYouTube lost the final response")
        return self._answer(log, 200, _JSON, video)

    def _list(self, request):
        log = self._log("list", request)
        if not self._authorized(request):
            return self._refuse(log)
        params = parse_qs(urlsplit(request.url).query)
        parts = set(params.get("part", [""])[0].split(","))
        ids = [video_id for value in params.get("id", []) for video_id in value.split(",") if video_id]
        items = [self._listed(self.videos[video_id], parts) for video_id in ids if video_id in self.videos]
        answer = load_fixture("youtube/videos.list.empty.json")
        answer["items"] = items
        answer["pageInfo"] = {"totalResults": len(items), "resultsPerPage": len(items)}
        return self._answer(log, 200, _JSON, answer)

    # --- helpers -------------------------------------------------------------------------------

    def _new_video(self, session: dict) -> dict:
        video = load_fixture("youtube/video.inserted.json")
        template_id = video["id"]
        video_id = f"yt{len(self.videos) + 1:09d}"  # 11 characters, as YouTube's ids
        snippet = session["metadata"].get("snippet") or {}
        status = session["metadata"].get("status") or {}
        video["id"] = video_id
        video["snippet"].update(
            title=snippet.get("title", ""),
            description=snippet.get("description", ""),
            categoryId=snippet.get("categoryId", "22"),
            localized={"title": snippet.get("title", ""), "description": snippet.get("description", "")},
        )
        for thumbnail in video["snippet"]["thumbnails"].values():
            thumbnail["url"] = thumbnail["url"].replace(template_id, video_id)
        video["status"].update(
            uploadStatus=self.default_upload_status,
            privacyStatus="private" if self.unaudited else status.get("privacyStatus", "public"),
            selfDeclaredMadeForKids=bool(status.get("selfDeclaredMadeForKids", False)),
        )
        if status.get("publishAt"):
            video["status"]["publishAt"] = status["publishAt"]
        self.videos[video_id] = video
        session["video_id"] = video_id
        return video

    def _listed(self, video: dict, parts: set[str]) -> dict:
        """The video as videos.list shows it: the fixture of its upload status, with its own status fields."""
        template = load_fixture(f"youtube/videos.list.{video['status']['uploadStatus']}.json")["items"][0]
        item = {"kind": template["kind"], "etag": template["etag"], "id": video["id"]}
        if "snippet" in parts:
            item["snippet"] = video["snippet"]
        if "status" in parts:
            status = template["status"]
            if "rejectionReason" in video["status"] or "failureReason" in video["status"]:
                status.pop("rejectionReason", None)
                status.pop("failureReason", None)
            status.pop("publishAt", None)
            status.update({key: video["status"][key] for key in _LISTED_STATUS_FIELDS if key in video["status"]})
            item["status"] = status
        if "processingDetails" in parts:
            item["processingDetails"] = template["processingDetails"]
        return item

    def _resume_incomplete(self, log: dict, session: dict):
        received = len(session["received"])
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        return self._answer(log, 308, {**headers, "Content-Length": "0"}, "")

    def _authorized(self, request) -> bool:
        return not self.refuse_token and request.headers.get("Authorization") == f"Bearer {self.valid_token}"

    def _refuse(self, log: dict):
        headers = {**_JSON, "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}
        return self._answer(log, 401, headers, load_fixture("youtube/error.authError.json"))

    def _log(self, kind: str, request, size: int = 0) -> dict:
        entry = {
            "kind": kind,
            "method": request.method,
            "url": request.url,
            "headers": dict(request.headers),
            "content_range": request.headers.get("Content-Range"),
            "bytes": size,
            "status": None,
        }
        self.requests_log.append(entry)
        return entry

    @staticmethod
    def _answer(log: dict, status: int, headers: dict, body):
        log["status"] = status
        return status, headers, body if isinstance(body, str) else json.dumps(body)


def _google_error(code: int, reason: str, message: str, domain: str = "global") -> dict:
    """Google's error envelope, for answers that have no recorded fixture."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }
