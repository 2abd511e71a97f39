"""A thin client for TikTok's Content Posting API (Direct Post, FILE_UPLOAD): chunk plans, typed errors."""

from integrations.tiktok.client import (
    PRIVACY_LEVELS,
    ChunkPlan,
    TikTokError,
    chunk_plan,
    fetch_status,
    init_direct_post,
    post_url,
    query_creator_info,
    upload_chunks,
)

__all__ = [
    "PRIVACY_LEVELS",
    "ChunkPlan",
    "TikTokError",
    "chunk_plan",
    "fetch_status",
    "init_direct_post",
    "post_url",
    "query_creator_info",
    "upload_chunks",
]
