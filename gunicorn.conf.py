"""gunicorn settings for production (Procfile `web`)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Railway's proxy keeps connections open; a short keep-alive frees sync workers.
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = "-"
# The request id (set by RequestIdMiddleware) ties the access log to the app's log lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
forwarded_allow_ips = "*"
control_socket_disable = True


def worker_exit(server, worker) -> None:
    """Flush whatever the worker still buffers (analytics) before it exits."""
    from core.shutdown import run_shutdown_hooks

    run_shutdown_hooks()
