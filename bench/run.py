"""`make bench`: measure the hot paths against their floors, in one run, on this machine.

Starts the embedded PostgreSQL (database `creatorsync_bench`, recreated each run), loopback fakes
for Clerk, Twitch, Lambda and speech recognition (bench/fakes.py), the app under gunicorn with
production settings, and a queue worker; seeds realistic data; drives load with wrk from a second
process; prints a table and writes bench/results.json.

`--only transcription` runs just the transcription measure (no seed, no gunicorn, no wrk) and
writes bench/.work/results-transcription.json.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
sys.path.insert(0, str(ROOT))

WEBHOOK_SECRET = "bench-remotion-secret"
BIG_USER_CLIPS = 10_000
OTHER_USERS = 20
OTHER_USER_CLIPS = 1_000
RENDER_JOBS = 5_000
RENDERING_JOBS = 2_000  # of RENDER_JOBS, left rendering for the webhook run
OUTAGE_SECONDS = 8  # the database outage under a running queue worker (measure_reconnect)
RECONNECT_SLACK_SECONDS = 2  # target: back within QUEUE_RECONNECT_MAX_WAIT_SECONDS plus this
TRANSCRIPTION_CLIP_SECONDS = 60
TRANSCRIPTION_RUNS = 5  # after one warm-up run; the median is reported
TRANSCRIPTION_TARGET_MS = 1000  # our overhead on a 60-second clip (bench/README.md says why)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads per worker (default: the app's).")
    parser.add_argument("--only", choices=["transcription"], help="Run just this measure.")
    args = parser.parse_args()

    wrk = ensure_wrk() if args.only is None else None
    WORK.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, wrk)
    try:
        bench.run()
    finally:
        bench.stop()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing wrk from Debian's packages...")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        return shutil.which("wrk")
    sys.exit("wrk is needed: install it (Debian: apt-get install wrk) and run `make bench` again.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, args, wrk: str):
        self.args = args
        self.wrk = wrk
        self.processes: list[subprocess.Popen] = []
        self.results: dict = {"config": {"duration_s": args.duration, "connections": args.connections}}

    # --- set-up --------------------------------------------------------------------------

    def run(self) -> None:
        self.start_database()
        self.start_fakes()
        self.configure_django()
        if self.args.only is None:
            self.seed()
            self.start_web()
            self.measure_clip_list()
            self.measure_renders()
            self.measure_webhooks()
            self.measure_backfill()
            self.measure_dispatch_latency()
            self.measure_memory()
            self.measure_reconnect()
        self.measure_transcription()
        self.report()

    def start_database(self) -> None:
        from creatorsync.embedded_postgres import embedded_database_settings

        admin = embedded_database_settings(name="postgres")
        import psycopg

        with psycopg.connect(dbname="postgres", user="postgres", host=admin["HOST"], autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS creatorsync_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE creatorsync_bench")
        self.database_url = f"postgresql://postgres:@/creatorsync_bench?host={admin['HOST']}"

    def start_fakes(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "ins_bench"
        jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": self.kid, "alg": "RS256"}
        (WORK / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        self.fakes_port = free_port()
        self.fakes_url = f"http://127.0.0.1:{self.fakes_port}"
        self.spawn([sys.executable, str(ROOT / "bench" / "fakes.py"), str(self.fakes_port), str(WORK / "jwks.json")])
        wait_for(f"{self.fakes_url}/clerk/.well-known/jwks.json")
        self.jwt = jwt

    def configure_django(self) -> None:
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ROOT_URLCONF": "bench.urls",
            "PUBLIC_BASE_URL": self.base_url,
            "DATABASE_URL": self.database_url,
            "CLERK_ISSUER": f"{self.fakes_url}/clerk",
            "CLERK_SECRET_KEY": "",
            "CLERK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"bench-clerk-webhook-secret").decode(),
            "TWITCH_API_URL": f"{self.fakes_url}/helix",
            "TWITCH_AUTH_URL": f"{self.fakes_url}/twitch-auth",
            "TWITCH_CLIENT_ID": "bench-client",
            "TWITCH_CLIENT_SECRET": "bench-secret",
            "RENDER_BACKEND": "remotion_lambda",
            "REMOTION_REGION": "us-east-1",
            "REMOTION_FUNCTION_NAME": "remotion-render-bench",
            "REMOTION_SERVE_URL": "https://remotion.bench/sites/creatorsync/index.html",
            "REMOTION_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RENDER_MAX_CONCURRENT": "1000000",
            "AWS_ENDPOINT_URL_LAMBDA": self.fakes_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "API_THROTTLE_USER": "100000000/min",
            "API_THROTTLE_ANON": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "PORT": str(self.web_port),
            "WEB_CONCURRENCY": str(self.args.workers),
            **({"GUNICORN_THREADS": str(self.args.threads)} if self.args.threads else {}),
            # Steady state: no worker recycling (a restart mid-run costs a second of imports).
            "GUNICORN_MAX_REQUESTS": "0",
            "POSTHOG_PROJECT_API_KEY": "",
            "TRANSCRIPTION_BACKEND": "openai",
            "TRANSCRIPTION_API_KEY": "bench-transcription-key",
            "TRANSCRIPTION_API_URL": f"{self.fakes_url}/openai",
            # The clips the bench stores (measure_transcription's video) stay out of the project's media/.
            "MEDIA_ROOT": str(WORK / "media"),
        }
        os.environ.update(self.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "creatorsync.settings"
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True
        )
        import django

        django.setup()

    def seed(self) -> None:
        from django.utils import timezone

        from accounts.models import TwitchAccount, User
        from clips.models import Clip
        from renders.models import RenderJob, RenderPreset

        started = time.monotonic()
        self.user = User.objects.create(username="user_benchmain", clerk_id="user_benchmain")
        others = User.objects.bulk_create(
            [User(username=f"user_bench{n}", clerk_id=f"user_bench{n}") for n in range(OTHER_USERS)]
        )
        self.backfill_user = User.objects.create(username="user_benchbackfill", clerk_id="user_benchbackfill")
        TwitchAccount.objects.create(user=self.backfill_user, twitch_user_id="424242", login="benchstreamer")
        now = timezone.now()

        def clips_for(owner, count):
            return [
                Clip(
                    owner=owner,
                    source=Clip.Source.TWITCH,
                    twitch_clip_id=f"{owner.clerk_id}-{n}",
                    url=f"https://clips.twitch.tv/{owner.clerk_id}-{n}",
                    embed_url=f"https://clips.twitch.tv/embed?clip={owner.clerk_id}-{n}",
                    broadcaster_id="1",
                    broadcaster_name="Streamer",
                    creator_id=str(n % 50),
                    creator_name=f"Clipper{n % 50}",
                    game_id=str(509658 + n % 5),
                    language="en",
                    title=f"Clip {n} of {owner.clerk_id}",
                    view_count=(n * 7919) % 50_000,
                    clip_created_at=now - timedelta(minutes=n * 37),
                    thumbnail_url=f"https://static-cdn.jtvnw.net/{n}-preview-480x272.jpg",
                    duration=5 + n % 55,
                    media_status=Clip.MediaStatus.READY if n % 3 == 0 else Clip.MediaStatus.NONE,
                    media_file=f"clips/bench/{owner.clerk_id}-{n}.mp4" if n % 3 == 0 else "",
                    media_duration=5 + n % 55 if n % 3 == 0 else None,
                )
                for n in range(count)
            ]

        Clip.objects.bulk_create(clips_for(self.user, BIG_USER_CLIPS), batch_size=2000)
        for other in others:
            Clip.objects.bulk_create(clips_for(other, OTHER_USER_CLIPS), batch_size=2000)
        self.preset = RenderPreset.objects.create(
            name="Vertical 1080p", slug="vertical-1080p", composition_id="VerticalShort", width=1080, height=1920
        )
        self.render_clip = Clip.objects.filter(owner=self.user, media_status=Clip.MediaStatus.READY).first()
        statuses = [RenderJob.Status.RENDERING] * RENDERING_JOBS + [RenderJob.Status.SUCCEEDED] * (
            RENDER_JOBS - RENDERING_JOBS
        )
        jobs = [
            RenderJob(
                owner=self.user,
                clip=self.render_clip,
                preset=self.preset,
                input_props={"trim_start": 0, "trim_end": 5, "aspect": "9:16", "layout": "fill", "title": ""},
                backend="remotion_lambda",
                status=status,
                backend_render_id=f"bench-seed-{n}",
                remotion_bucket="remotionlambda-bench",
                dispatched_at=now,
                deadline_at=now + timedelta(days=1),
                progress=1 if status == RenderJob.Status.SUCCEEDED else 0.3,
            )
            for n, status in enumerate(statuses)
        ]
        # Distinct creation times, as in real life, for a stable newest-first order.
        RenderJob.objects.bulk_create(jobs, batch_size=2000)
        for offset, job in enumerate(jobs):
            job.created_at = now - timedelta(seconds=offset)
        RenderJob.objects.bulk_update(jobs, ["created_at"], batch_size=2000)
        self.rendering_jobs = [job for job in jobs if job.status == RenderJob.Status.RENDERING]
        # A live database is vacuumed and analysed by autovacuum; a fresh bulk load is not yet.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        self.results["seed_seconds"] = round(time.monotonic() - started, 1)

    def start_web(self) -> None:
        self.spawn(
            [sys.executable, "-m", "gunicorn", "creatorsync.wsgi", "--config", "gunicorn.conf.py"],
            stdout=(WORK / "gunicorn.log").open("w"),
        )
        wait_for(f"{self.base_url}/healthz")

    # --- measurements ---------------------------------------------------------------------

    def token(self, clerk_id: str) -> str:
        now = int(time.time())
        claims = {
            "azp": "http://localhost:3000",
            "exp": now + 3600,
            "iat": now,
            "nbf": now - 5,
            "iss": f"{self.fakes_url}/clerk",
            "sid": "sess_bench",
            "sub": clerk_id,
            "sts": "active",
            "v": 2,
        }
        headers = {"kid": self.kid, "cat": "cl_B7d4PD111AAA"}
        return self.jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def measure_pair(self, name: str, floor_path: str, path: str, *, lua: str | None = None) -> dict:
        floor = self.wrk_run(floor_path, lua=lua)
        endpoint = self.wrk_run(path, lua=lua)
        result = {
            "floor": floor,
            "endpoint": endpoint,
            "throughput_ratio": round(endpoint["rps"] / floor["rps"], 3) if floor["rps"] else None,
        }
        self.results[name] = result
        return result

    def auth_lua(self, clerk_id: str) -> str:
        script = WORK / f"auth-{clerk_id}.lua"
        script.write_text(f'wrk.headers["Authorization"] = "Bearer {self.token(clerk_id)}"\n')
        return str(script)

    def wrk_run(self, path: str, *, lua: str | None = None) -> dict:
        command = [
            self.wrk,
            "-t2",
            f"-c{self.args.connections}",
            f"-d{self.args.duration}s",
            "--latency",
            "--timeout",
            "10s",
        ]
        if lua:
            command += ["-s", lua]
        output = subprocess.run([*command, f"{self.base_url}{path}"], capture_output=True, text=True, check=True).stdout
        return parse_wrk(output)

    def measure_clip_list(self) -> None:
        lua = self.auth_lua(self.user.clerk_id)
        query = "/api/clips/?page_size=50&ordering=-views&min_views=100&source=twitch"
        self.measure_pair("clip_list", "/bench/floor/auth/", query, lua=lua)
        self.results["clip_list"]["queries_by_page_size"] = {
            size: self.count_queries(f"/api/clips/?page_size={size}&ordering=-views&min_views=100&source=twitch")
            for size in (1, 50, 100)
        }

    def measure_renders(self) -> None:
        lua = self.auth_lua(self.user.clerk_id)
        job = self.rendering_jobs[-1]
        self.measure_pair("render_list", "/bench/floor/auth/", "/api/renders/?page_size=50", lua=lua)
        self.results["render_list"]["queries_by_page_size"] = {
            size: self.count_queries(f"/api/renders/?page_size={size}") for size in (1, 50, 100)
        }
        self.measure_pair("render_detail", "/bench/floor/auth/", f"/api/renders/{job.pk}/", lua=lua)

    def count_queries(self, path: str) -> int:
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(HTTP_AUTHORIZATION=f"Bearer {self.token(self.user.clerk_id)}")
        client.get(path)  # warm the key cache
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, response.content[:300]
        return len(queries)

    def measure_webhooks(self) -> None:
        from renders.models import RenderEvent, RenderJob

        lines = []
        for job in self.rendering_jobs:
            body = json.dumps(
                {
                    "type": "success",
                    "renderId": job.backend_render_id,
                    "bucketName": "remotionlambda-bench",
                    "expectedBucketOwner": "123456789012",
                    "customData": {"job": str(job.pk)},
                    "outputUrl": f"{self.fakes_url}/out/{job.pk}.mp4",
                    "outputFile": f"{self.fakes_url}/out/{job.pk}.mp4",
                    "lambdaErrors": [],
                    "timeToFinish": 21000,
                    "costs": {"estimatedCost": 0.012, "currency": "USD"},
                },
                separators=(",", ":"),
            )
            signature = "sha512=" + hmac.new(WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha512).hexdigest()
            lines.append(f"{signature}\t{body}")
        (WORK / "webhooks.tsv").write_text("\n".join(lines))
        lua = WORK / "webhooks.lua"
        lua.write_text(WEBHOOK_LUA.replace("__FILE__", str(WORK / "webhooks.tsv")))
        self.measure_pair("webhook_ingest", "/bench/floor/webhook/", "/webhooks/remotion/", lua=str(lua))

        # A burst of 500 duplicates of one delivery.
        import concurrent.futures

        import requests

        signature, body = lines[0].split("\t", 1)
        session_headers = {"X-Remotion-Signature": signature, "Content-Type": "application/json"}

        def deliver(_):
            started = time.perf_counter()
            response = requests.post(f"{self.base_url}/webhooks/remotion/", data=body, headers=session_headers)
            return response.status_code, time.perf_counter() - started

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.args.connections) as pool:
            outcomes = list(pool.map(deliver, range(500)))
        latencies = sorted(duration for _, duration in outcomes)
        delivered_ids = [job.pk for job in self.rendering_jobs]
        succeeded_events = RenderEvent.objects.filter(job_id__in=delivered_ids, kind="succeeded")
        per_job = {}
        for job_id in succeeded_events.values_list("job_id", flat=True):
            per_job[job_id] = per_job.get(job_id, 0) + 1
        self.results["webhook_ingest"]["duplicate_burst"] = {
            "requests": 500,
            "all_200": all(status == 200 for status, _ in outcomes),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        }
        self.results["webhook_ingest"]["verification"] = {
            "jobs_succeeded": RenderJob.objects.filter(pk__in=delivered_ids, status="succeeded").count(),
            "jobs_with_more_than_one_transition": sum(1 for count in per_job.values() if count > 1),
            "exactly_one_transition_per_applied_job": all(count == 1 for count in per_job.values()),
        }

    def measure_backfill(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from bench.fakes import BENCH_NOW
        from clips.models import ClipImport
        from clips.services import clip_import_run
        from integrations.twitch import TwitchClient

        calls = []

        class RecordingClient(TwitchClient):
            def get_clips(self, **kwargs):
                calls.append(kwargs)
                return super().get_clips(**kwargs)

        since, until = BENCH_NOW - timedelta(days=366), BENCH_NOW
        first = ClipImport.objects.create(user=self.backfill_user, since=since, until=until)
        started = time.perf_counter()
        done = clip_import_run(clip_import_id=str(first.pk), client=RecordingClient())
        import_seconds = time.perf_counter() - started

        fetch_client = TwitchClient()
        started = time.perf_counter()
        for call in calls:
            fetch_client.get_clips(**call)
        fetch_seconds = time.perf_counter() - started

        # A re-import of the same history, counting statements (the capture slows it, so it is not timed).
        second = ClipImport.objects.create(user=self.backfill_user, since=since, until=until)
        with CaptureQueriesContext(connection) as queries:
            again = clip_import_run(clip_import_id=str(second.pk), client=TwitchClient())
        inserts = sum(1 for query in queries if query["sql"].startswith('INSERT INTO "clips_clip"'))
        self.results["backfill"] = {
            "status": done.status,
            "clips_created": done.clips_created,
            "pages": done.pages_fetched,
            "import_seconds": round(import_seconds, 3),
            "fetch_only_seconds": round(fetch_seconds, 3),
            "ratio": round(import_seconds / fetch_seconds, 3),
            "reimport_status": again.status,
            "reimport_clips_created": again.clips_created,
            "reimport_insert_statements": inserts,
            "reimport_pages": again.pages_fetched,
        }

    def measure_dispatch_latency(self) -> None:
        import requests

        self.spawn(
            [sys.executable, "manage.py", "procrastinate", "worker", "-q", "renders", "--concurrency", "4"],
            stdout=(WORK / "worker.log").open("w"),
        )
        time.sleep(3)  # the worker connects and starts listening
        headers = {"Authorization": f"Bearer {self.token(self.user.clerk_id)}"}
        answered = {}
        for _ in range(60):
            response = requests.post(
                f"{self.base_url}/api/renders/",
                json={"clip": str(self.render_clip.pk), "preset": self.preset.slug, "props": {"trim_end": 5}},
                headers=headers,
            )
            answered_at = time.time()
            assert response.status_code == 201, response.text[:300]
            answered[response.json()["id"]] = answered_at
            time.sleep(0.1)
        time.sleep(2)
        arrivals = {item["job"]: item["at"] for item in requests.get(f"{self.fakes_url}/__invocations").json()}
        latencies = sorted((arrivals[job] - at) * 1000 for job, at in answered.items() if job in arrivals)
        self.results["dispatch_latency"] = {
            "renders": len(answered),
            "reached_lambda": len(latencies),
            "median_ms": round(statistics.median(latencies), 2) if latencies else None,
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2) if latencies else None,
        }

    def measure_memory(self) -> None:
        import psutil

        gunicorn = psutil.Process(self.processes[1].pid)
        workers = gunicorn.children()
        self.results["memory"] = {"worker_rss_mb": [round(worker.memory_info().rss / 2**20, 1) for worker in workers]}

    def measure_reconnect(self) -> None:
        """The wall time from a database's return to the next job processed.

        A queue worker (`manage.py queue_worker`, the bench's production settings) runs on a PostgreSQL
        server of its own (never the embedded one the rest of the bench uses); the server is stopped for
        OUTAGE_SECONDS and started again, a trivial job is queued, and the clock runs until it succeeded.
        The machinery is the fault tests' (creatorsync/tests/test_worker_faults.py).
        """
        import tempfile

        from django.conf import settings

        from creatorsync.tests.test_worker_faults import (
            ScratchPostgres,
            WorkerProcess,
            job_processed_after_outage,
            latest_worker_id,
            migrate,
            wait_until,
        )

        folder = Path(tempfile.mkdtemp(prefix="creatorsync-bench-outage-"))
        server = ScratchPostgres(folder)  # removed with everything in it, the worker's scratch folder too
        worker = None
        try:
            env = {**self.env, "DATABASE_URL": server.create_database("outage"), "WORK_DIR": str(folder / "work")}
            migrate(env)
            worker = WorkerProcess(env, WORK / "outage-worker.log")
            with server.connect("outage") as conn:
                wait_until(lambda: latest_worker_id(conn) > 0, timeout=60, what="the queue worker to start")
            outcome = job_processed_after_outage(
                server, "outage", outage_seconds=OUTAGE_SECONDS, worker=worker, timeout=60
            )
        finally:
            if worker:
                worker.terminate()
                worker.exits_within(30)
                worker.kill()
            server.remove()
        seconds = outcome["seconds"]
        self.results["reconnect"] = {
            "outage_s": OUTAGE_SECONDS,
            "reconnect_max_wait_s": settings.QUEUE_RECONNECT_MAX_WAIT_SECONDS,
            "worker_survived": outcome["survived"],
            "seconds_to_next_job": round(seconds, 2) if seconds is not None else None,
        }

    def measure_transcription(self) -> None:
        """Our own time in recognising a 60-second clip: the pipeline end to end, less the provider's time.

        `clips.transcripts.transcript_recognise` runs in this process, as the queue job runs it, for a
        ready clip whose real 1080p video has a tone for its audio (generated once into bench/.work/):
        the copy of the video out of storage, the audio's extraction, the upload to the fake provider,
        the 150 words of its answer checked and stored. The fake takes TRANSCRIPTION_SECONDS and reports
        its own time for each request, which is subtracted. One warm-up run, then TRANSCRIPTION_RUNS.
        """
        import requests
        from django.core.files import File
        from django.utils import timezone

        from accounts.models import User
        from bench.fakes import TRANSCRIPTION_SECONDS, TRANSCRIPTION_WORDS
        from clips import transcripts
        from clips.media import generate_sample_video
        from clips.models import Clip, Transcript, TranscriptionRun

        video = WORK / f"transcription-{TRANSCRIPTION_CLIP_SECONDS}s-1080p.mp4"
        if not video.exists():
            partial = video.with_name(f"partial-{video.name}")
            generate_sample_video(partial, width=1920, height=1080, seconds=TRANSCRIPTION_CLIP_SECONDS)
            partial.rename(video)
        owner = User.objects.create(username="user_benchtranscribe", clerk_id="user_benchtranscribe")
        clip = Clip(
            owner=owner,
            source=Clip.Source.UPLOAD,
            title="Bench transcription clip",
            clip_created_at=timezone.now(),
            duration=TRANSCRIPTION_CLIP_SECONDS,
            media_status=Clip.MediaStatus.READY,
            media_duration=TRANSCRIPTION_CLIP_SECONDS,
            media_size=video.stat().st_size,
        )
        with video.open("rb") as source:
            clip.media_file.save(video.name, File(source), save=False)
        clip.save()

        def provider_requests() -> list[dict]:
            return requests.get(f"{self.fakes_url}/__transcriptions", timeout=10).json()

        # The audio extraction's share, timed around the pipeline's own call.
        extracting: list[float] = []
        real_extract_audio = transcripts.extract_audio

        def timed_extract_audio(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real_extract_audio(*args, **kwargs)
            finally:
                extracting.append(time.perf_counter() - started)

        samples = []
        transcripts.extract_audio = timed_extract_audio
        try:
            for _ in range(1 + TRANSCRIPTION_RUNS):
                transcript = transcripts.transcript_request(clip=clip)  # queues the job; this process runs it
                run = TranscriptionRun.objects.filter(transcript=transcript).latest("pk")
                seen = len(provider_requests())
                extracting.clear()
                started = time.perf_counter()
                done = transcripts.transcript_recognise(transcript_id=str(transcript.pk), run_id=run.pk)
                wall = time.perf_counter() - started
                calls = provider_requests()[seen:]
                if done.status != Transcript.Status.READY or len(done.words) != TRANSCRIPTION_WORDS:
                    raise SystemExit(f"The bench recognition did not succeed: {done.status} {done.error}")
                provider = sum(call["seconds"] for call in calls)
                samples.append(
                    {
                        "wall_ms": wall * 1000,
                        "provider_ms": provider * 1000,
                        "overhead_ms": (wall - provider) * 1000,
                        "extraction_ms": sum(extracting) * 1000,
                        "requests": len(calls),
                        "audio_kb": sum(call["audio_bytes"] for call in calls) / 1024,
                        "ogg": all(call["ogg"] for call in calls),
                    }
                )
        finally:
            transcripts.extract_audio = real_extract_audio
            clip.media_file.delete(save=False)  # the database goes with the next run; the copy goes now
        measured = samples[1:]  # the warm-up run is left out

        def median(key: str) -> float:
            return round(statistics.median(sample[key] for sample in measured), 1)

        self.results["transcription"] = {
            "clip_seconds": TRANSCRIPTION_CLIP_SECONDS,
            "video_mb": round(video.stat().st_size / 2**20, 1),
            "runs": len(measured),
            "requests_per_run": measured[0]["requests"],
            "provider_sleep_ms": TRANSCRIPTION_SECONDS * 1000,
            "wall_ms": median("wall_ms"),
            "provider_ms": median("provider_ms"),
            "overhead_ms": median("overhead_ms"),
            "extraction_ms": median("extraction_ms"),
            "audio_kb": median("audio_kb"),
            "audio_is_ogg": all(sample["ogg"] for sample in measured),
            "overhead_runs_ms": [round(sample["overhead_ms"], 1) for sample in measured],
            "overhead_to_provider": round(median("overhead_ms") / median("provider_ms"), 2),
        }

    # --- output ----------------------------------------------------------------------------

    def report(self) -> None:
        results = self.results
        rows = self.hot_path_rows() if self.args.only is None else []
        rows.append(self.transcription_row())

        widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
        header = ("Measure", "Result", "Ratio", "Latency / detail", "Target", "")
        widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
        line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        print("\n" + line + "\n" + "-" * len(line))
        for row in rows:
            print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
        results["table"] = [dict(zip(header, row, strict=True)) for row in rows]
        output = ROOT / "bench" / "results.json" if self.args.only is None else WORK / f"results-{self.args.only}.json"
        output.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nWrote {output}")

    def transcription_row(self) -> tuple:
        transcription = self.results["transcription"]
        overhead = transcription["overhead_ms"]
        return (
            f"Transcription overhead, {transcription['clip_seconds']} s clip",
            f"{overhead:.0f} ms vs provider {transcription['provider_ms']:.0f} ms",
            f"{transcription['overhead_to_provider']}x",
            f"audio {transcription['audio_kb']:.0f} KB, extraction {transcription['extraction_ms']:.0f} ms",
            f"<= {TRANSCRIPTION_TARGET_MS / 1000:g} s",
            "ok" if overhead <= TRANSCRIPTION_TARGET_MS else "MISS",
        )

    def hot_path_rows(self) -> list[tuple]:
        results = self.results
        rows = []
        for name, label, target in (
            ("clip_list", "Clip list (50, filtered, ordered)", 0.70),
            ("render_list", "Render list (50), 5,000 jobs", 0.70),
            ("render_detail", "Render detail", 0.70),
            ("webhook_ingest", "Remotion webhook ingest", 0.50),
        ):
            pair = results[name]
            ratio = pair["throughput_ratio"]
            rows.append(
                (
                    label,
                    f"{pair['endpoint']['rps']:.0f} rps vs {pair['floor']['rps']:.0f}",
                    f"{ratio:.0%}",
                    f"p50 {pair['endpoint']['p50_ms']} / p99 {pair['endpoint']['p99_ms']} ms",
                    f">= {target:.0%}",
                    "ok" if ratio >= target else "MISS",
                )
            )
        for name in ("clip_list", "render_list"):
            counts = results[name]["queries_by_page_size"]
            same = len(set(counts.values())) == 1 and max(counts.values()) <= 3
            rows.append(
                (
                    f"  SQL queries {name} (1/50/100)",
                    str(list(counts.values())),
                    "",
                    "",
                    "same, <= 3",
                    "ok" if same else "MISS",
                )
            )
        burst = results["webhook_ingest"]["duplicate_burst"]
        verification = results["webhook_ingest"]["verification"]
        rows.append(
            (
                "  500 duplicate deliveries",
                "all 200" if burst["all_200"] else "errors",
                "",
                f"p50 {burst['p50_ms']} / p99 {burst['p99_ms']} ms",
                "p99 << 10 s",
                "ok" if burst["all_200"] and burst["p99_ms"] < 1000 else "MISS",
            )
        )
        rows.append(
            (
                "  one transition per job",
                f"{verification['jobs_succeeded']} succeeded",
                "",
                "",
                "exactly one",
                "ok" if verification["exactly_one_transition_per_applied_job"] else "MISS",
            )
        )
        backfill = results["backfill"]
        rows.append(
            (
                "Backfill 10,000 clips",
                f"{backfill['import_seconds']} s vs fetch {backfill['fetch_only_seconds']} s",
                f"{backfill['ratio']}x",
                f"{backfill['reimport_insert_statements']} INSERTs / {backfill['reimport_pages']} pages",
                "<= 1.3x, 1 INSERT/page",
                "ok" if backfill["ratio"] <= 1.3 else "MISS",
            )
        )
        dispatch = results["dispatch_latency"]
        rows.append(
            (
                "Dispatch latency (commit to invoke)",
                f"median {dispatch['median_ms']} ms",
                "",
                f"p95 {dispatch['p95_ms']} ms",
                "median <= 50 ms",
                "ok" if dispatch["median_ms"] is not None and dispatch["median_ms"] <= 50 else "MISS",
            )
        )
        reconnect = results["reconnect"]
        reconnect_target = reconnect["reconnect_max_wait_s"] + RECONNECT_SLACK_SECONDS
        reconnect_seconds = reconnect["seconds_to_next_job"]
        rows.append(
            (
                "Next job after a database outage",
                f"{reconnect_seconds} s" if reconnect_seconds is not None else "not within 60 s",
                "",
                f"{reconnect['outage_s']} s outage, the worker {'alive' if reconnect['worker_survived'] else 'exited'}",
                f"<= {reconnect_target:g} s",
                "ok" if reconnect_seconds is not None and reconnect_seconds <= reconnect_target else "MISS",
            )
        )
        rss = max(results["memory"]["worker_rss_mb"])
        rows.append(("gunicorn worker RSS", f"{rss} MB", "", "", "< 150 MB", "ok" if rss < 150 else "MISS"))
        return rows

    # --- processes -------------------------------------------------------------------------

    def spawn(self, command: list[str], stdout=None) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=getattr(self, "env", os.environ),
            stdout=stdout or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


WEBHOOK_LUA = r"""
-- Each wrk thread sends its own share of distinct, signed deliveries, then cycles (duplicates).
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  requests = {}
  local n = 0
  for line in io.lines("__FILE__") do
    if n % 2 == id then
      local tab = line:find("\t")
      local signature = line:sub(1, tab - 1)
      local body = line:sub(tab + 1)
      table.insert(requests, wrk.format("POST", nil,
        {["Content-Type"] = "application/json", ["X-Remotion-Signature"] = signature}, body))
    end
    n = n + 1
  end
  index = 0
end
function request()
  index = index % #requests + 1
  return requests[index]
end
"""


def parse_wrk(output: str) -> dict:
    def latency(percent: str) -> float | None:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return None
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def wait_for(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout} s")


if __name__ == "__main__":
    main()
