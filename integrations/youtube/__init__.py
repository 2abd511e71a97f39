"""A YouTube Data API v3 client on requests: resumable uploads that resume after a restart, processing status."""

from integrations.youtube.client import (
    UploadState,
    YouTubeError,
    create_upload_session,
    get_video,
    query_upload,
    upload_from,
    video_metadata,
    video_url,
)

__all__ = [
    "UploadState",
    "YouTubeError",
    "create_upload_session",
    "get_video",
    "query_upload",
    "upload_from",
    "video_metadata",
    "video_url",
]
