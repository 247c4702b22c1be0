"""The HTTP routes: the page, ``/v1/predict``, ``/v1/models``, ``/v1/jobs`` (+ ``/{id}``, ``/result``, ``/video``,
``/preview``), ``/healthz``, and the OpenAPI pages ``/docs`` and ``/redoc`` (FastAPI; the pages' scripts served from
here by fastapi-offline, so they work offline).

Every request that carries a file gets its own ``tempfile.mkdtemp`` folder, removed when the request ends however
it ends (a job's folder: when the job is cancelled, fails or expires, :mod:`posekit.serve.jobs`). Predictions run
in the bounded worker pool (:mod:`posekit.serve.pool`), never in the event loop; at most ``2 x (queue + workers)``
uploads may be arriving at once, so the disk they take is bounded too. Every refusal is a JSON
``{"detail": "<what to change>"}`` with a 4xx status; 503 carries ``Retry-After``; 504 says the time limit.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

import posekit.serve.work as work
import posekit.zoo as zoo
from posekit.serve.docs import JOB_EXAMPLE, PREDICT_BODY, PREDICT_EXAMPLE
from posekit.serve.jobs import CANCELLED, DONE, FAILED, RUNNING, Job, JobTable, TableFull
from posekit.serve.pool import Busy, WorkerPool
from posekit.serve.settings import ServeSettings
from posekit.serve.uploads import UploadError, receive, sniff

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
POSE_TASKS = (zoo.TOP_DOWN, zoo.BOTTOM_UP, zoo.CLASSIC)
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
                "'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def pose_models() -> list[zoo.ZooEntry]:
    """The zoo's models ``load_model`` can pose with (person detectors are a stage of a pipeline, not a model)."""
    return [e for e in zoo.entries() if e.task in POSE_TASKS]


def _loader(settings: ServeSettings):
    """``load(name) -> Predictor`` for the workers, one load at a time: the first load of a model exports it to
    ONNX (torch.onnx), which is not thread-safe -- workers exporting at once fail and fall back to PyTorch. The
    later loads find the export in the cache and take a moment each."""
    lock = threading.Lock()

    def load(name: str):
        from posekit.api import load_model

        with lock:
            return load_model(name, backend=settings.backend, threads=settings.threads_per_worker)

    return load


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _options(fields: dict[str, str], settings: ServeSettings, names: set[str]) -> dict:
    """The request's text fields as options: model, person_threshold, track; an UploadError (400) for others."""
    unknown = set(fields) - {"model", "person_threshold", "track"}
    if unknown:
        raise UploadError(400, f"unknown option(s) {', '.join(sorted(unknown))}: the options are model, "
                               "person_threshold and track")
    model = fields.get("model") or settings.model
    if model not in names:
        raise UploadError(400, f"unknown model {model!r}: GET /v1/models lists them ({', '.join(sorted(names))})")
    threshold = None
    if fields.get("person_threshold", "") != "":
        try:
            threshold = float(fields["person_threshold"])
        except ValueError:
            raise UploadError(400, f"person_threshold must be a number in [0, 1], got "
                                   f"{fields['person_threshold']!r}") from None
        if not 0.0 <= threshold <= 1.0:
            raise UploadError(400, f"person_threshold must be in [0, 1], got {threshold}")
    track = fields.get("track", "false").strip().lower()
    if track not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        raise UploadError(400, f"track must be true or false, got {fields['track']!r}")
    return {"model": model, "threshold": threshold, "track": track in ("true", "1", "yes", "on")}


def _kind(upload, settings: ServeSettings) -> str:
    """``"image"`` or ``"video"`` from the field it came in and its first bytes; 415/413 for a mismatch."""
    with open(upload.path, "rb") as f:
        found = sniff(f.read(64))
    if upload.form_field == "image" and found == "video":
        raise UploadError(415, f"{upload.file_name} is a video, sent as a photo: send it as the field 'video' (or "
                               "to POST /v1/jobs for progress and a drawn video)")
    if upload.form_field == "video" and found == "image":
        raise UploadError(415, f"{upload.file_name} is a photo, sent as a video: send it as the field 'image'")
    kind = "video" if upload.form_field == "video" or found == "video" else "image"
    if kind == "image" and upload.size > settings.upload_limits()["image"]:
        raise UploadError(413, f"the photo is over the server's limit of {settings.max_upload_mb:.0f} MB "
                               "(posekit serve --max-upload-mb)")
    return kind


def _worker_error(e: BaseException) -> JSONResponse:
    """A failure inside a worker as an answer: the client's fault (4xx) or posekit's (500, logged)."""
    if isinstance(e, UploadError):
        return _error(e.status, str(e))
    if isinstance(e, ValueError):  # a predictor's check of its input (posekit.predict.inputs)
        return _error(422, str(e))
    log.error("prediction failed", exc_info=e)
    return _error(500, f"internal error: {type(e).__name__}: {e} (a bug in posekit: please report it)")


class Server:
    """The app's state: settings, worker pool and job table (made at startup, closed at shutdown)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.names = {e.name for e in pose_models()}
        self.pool: WorkerPool | None = None
        self.jobs = JobTable(settings.max_jobs, settings.job_ttl)
        self.uploading = 0  # requests whose file is still arriving
        self.max_uploading = 2 * (settings.queue_limit + settings.workers)

    def start(self) -> None:
        import torch

        torch.set_num_threads(self.settings.threads_per_worker)  # PyTorch's threads are process-wide
        self.pool = WorkerPool(self.settings.workers, _loader(self.settings), self.settings.max_models,
                               self.settings.queue_limit,
                               preload=(self.settings.model,) if self.settings.preload else ())

    def stop(self) -> None:
        self.jobs.close()
        if self.pool is not None:
            self.pool.close()

    async def upload(self, request: Request) -> tuple[Path, object, dict, str]:
        """The request's file streamed into a new temporary folder: (folder, upload, options, kind). The caller
        owns the folder; on an error it is removed here."""
        if self.uploading >= self.max_uploading:  # bounds the disk that uploads in flight can take
            raise Busy(f"{self.uploading} uploads are arriving already")
        self.uploading += 1  # (one event loop: no lock needed)
        folder = Path(tempfile.mkdtemp(prefix="posekit_serve_", dir=self.settings.upload_dir))
        try:
            upload = await asyncio.wait_for(receive(request, folder, self.settings.upload_limits()),
                                            self.settings.timeout)
            return folder, upload, _options(upload.fields, self.settings, self.names), _kind(upload, self.settings)
        except asyncio.TimeoutError:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadError(408, f"the upload took longer than the server's limit of {self.settings.timeout:g} "
                                   "s (posekit serve --timeout)") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            self.uploading -= 1

    def busy(self, message: str) -> JSONResponse:
        return _error(503, f"{message}; retry in a moment", {"Retry-After": "1"})

    def job(self, job_id: str) -> Job:
        """The job ``job_id``; 404 when there is none (or it expired)."""
        job = self.jobs.get(job_id)
        if job is None:
            raise UploadError(404, f"no job {job_id!r} (finished jobs are kept {self.settings.job_ttl:.0f} s)")
        return job

    def finished_job(self, job_id: str) -> Job:
        """The job ``job_id`` when it is done; its error when it failed, 409 while it runs."""
        job = self.job(job_id)
        if job.state == FAILED:
            raise UploadError(job.error_status if 400 <= job.error_status < 500 else 500, job.error)
        if job.state != DONE:
            raise UploadError(409, f"job {job_id} is {job.state} ({job.progress.done} of {job.progress.total} "
                                   "frames): its result comes when it is done")
        return job

    def run_job(self, models, job: Job, options: dict, upload) -> None:
        """A video job, in a worker: the result JSON and the drawn video land in the job's folder."""
        job.state = RUNNING
        s = self.settings
        try:
            result = work.predict_video(models, options["model"], upload.path, upload.file_name,
                                        options["threshold"], options["track"], (s.max_pixels, s.max_frames),
                                        upload.sha256, job.progress, job.folder / f"drawn{work.VIDEO_SUFFIX}")
            job.result_path = work.write_json(result, job.folder / "result.json")
            job.video_path = job.folder / f"drawn{work.VIDEO_SUFFIX}"
            self.jobs.finish(job, CANCELLED if job.progress.cancel.is_set() else DONE)
        except work.Cancelled as e:
            self.jobs.finish(job, CANCELLED, str(e))
        except UploadError as e:
            self.jobs.finish(job, FAILED, str(e), e.status)
        except Exception as e:  # noqa: BLE001 -- reported through the job, and logged
            log.error("video job failed", exc_info=e)
            self.jobs.finish(job, FAILED, f"internal error: {type(e).__name__}: {e}", 500)
        finally:
            upload.path.unlink(missing_ok=True)


def _auth(settings: ServeSettings):
    bearer = HTTPBearer(auto_error=False, description="only when the server was started with --token")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if settings.token is None:
            return
        if credentials is None:
            raise UploadError(401, "this server needs a token: send 'Authorization: Bearer <token>' (the one "
                                   "posekit serve --token was given)")
        if not secrets.compare_digest(credentials.credentials.encode(), settings.token.encode()):
            raise UploadError(401, "wrong token in 'Authorization: Bearer ...'")

    return check


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app of ``posekit serve`` (run it with uvicorn, or FastAPI's TestClient in tests)."""
    settings = settings or ServeSettings()
    settings.check()
    server = Server(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        server.start()
        yield
        server.stop()

    # the OpenAPI pages (/docs: Swagger UI, /redoc: ReDoc) from fastapi-offline's copies of their scripts, not a
    # CDN: they work with no internet (and fetch nothing from elsewhere: no validator badge)
    app = FastAPIOffline(title="posekit serve", version="1", lifespan=lifespan,
                         swagger_ui_parameters={"validatorUrl": None},
                         description="Human poses (COCO-17 keypoints) in photos and videos, from posekit's model "
                                     "zoo. Every /v1 call needs `Authorization: Bearer <token>` when the server was "
                                     "started with --token. Errors are `{\"detail\": \"...\"}` with a 4xx status.")
    app.state.server = server

    @app.exception_handler(Busy)
    async def busy(request: Request, e: Busy) -> JSONResponse:
        return server.busy(str(e))

    @app.exception_handler(UploadError)
    async def refused(request: Request, e: UploadError) -> JSONResponse:
        return _error(e.status, str(e), {"WWW-Authenticate": "Bearer"} if e.status == 401 else None)

    _add_page_routes(app, server)
    _add_predict_routes(app, server, Depends(_auth(settings)))
    _add_job_start_route(app, server, Depends(_auth(settings)))
    _add_job_routes(app, server, Depends(_auth(settings)))
    return app


def _add_page_routes(app: FastAPI, server: Server) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    @app.get("/healthz", summary="Is the server up", tags=["server"])
    async def healthz() -> dict:
        """`status` "ok" while the server answers; `ready`: every worker has loaded the default model."""
        pool = server.pool
        return {"status": "ok", "ready": bool(pool and pool.ready), "jobs": len(server.jobs),
                **(pool.stats() if pool else {})}


def _add_predict_routes(app: FastAPI, server: Server, auth) -> None:
    @app.get("/v1/models", summary="The models a request may name", tags=["predict"], dependencies=[auth])
    async def models() -> dict:
        """The zoo's pose models (``posekit models`` prints the same table) and the server's default."""
        return {"default": server.settings.model,
                "models": [{"name": e.name, "task": e.task, "skeleton": e.skeleton, "description": e.description,
                            "metric": e.metric, "licence": e.licence, "size_bytes": e.size, "sha256": e.sha256}
                           for e in pose_models()]}

    @app.post("/v1/predict", summary="People in one photo or one video", tags=["predict"], dependencies=[auth],
              openapi_extra={"requestBody": PREDICT_BODY,
                             "responses": {"200": {"content": {"application/json": {"example": PREDICT_EXAMPLE}}}}})
    async def predict(request: Request) -> JSONResponse:
        """Multipart upload: one file as `image` (a photo), `video`, or `file` (either; told apart by its
        bytes), and the options `model`, `person_threshold` (0-1; default: the model's own) and `track` (videos).
        Answers COCO-17 results (`image_id`, and `frame` for videos) with the images they refer to."""
        folder, upload, options, kind = await server.upload(request)
        s = server.settings
        progress = work.Progress()
        try:
            if kind == "image":
                task = partial(work.predict_image, model=options["model"], path=upload.path,
                               file_name=upload.file_name, threshold=options["threshold"], max_pixels=s.max_pixels,
                               sha256=upload.sha256)
            else:
                task = partial(work.predict_video, model=options["model"], path=upload.path,
                               file_name=upload.file_name, threshold=options["threshold"], track=options["track"],
                               limits=(s.max_pixels, s.max_frames), sha256=upload.sha256, progress=progress)
            try:
                future = server.pool.submit(task)
            except Busy as e:
                return server.busy(str(e))
            started = time.perf_counter()
            try:
                return JSONResponse(await asyncio.wait_for(asyncio.wrap_future(future), s.timeout))
            except asyncio.TimeoutError:
                progress.cancel.set()  # a video stops at its next frame; a queued task never runs
                return _error(504, f"the prediction took longer than the server's limit of {s.timeout:g} s "
                                   f"(gave up after {time.perf_counter() - started:.1f} s; posekit serve --timeout; "
                                   "long videos: POST /v1/jobs)")
            except Exception as e:  # noqa: BLE001
                return _worker_error(e)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _add_job_start_route(app: FastAPI, server: Server, auth) -> None:
    @app.post("/v1/jobs", summary="Start a video job", tags=["jobs"], dependencies=[auth], status_code=202,
              openapi_extra={"requestBody": PREDICT_BODY,
                             "responses": {"202": {"content": {"application/json": {"example": JOB_EXAMPLE}}}}})
    async def start_job(request: Request) -> JSONResponse:
        """The same upload as /v1/predict, for a video: answers a job at once; follow it with GET /v1/jobs/{id}."""
        folder, upload, options, kind = await server.upload(request)
        if kind != "video":
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadError(415, f"{upload.file_name} is a photo: jobs are for videos (POST photos to /v1/predict)")
        try:
            job = server.jobs.create(folder, upload.file_name, options["model"])
        except TableFull as e:
            shutil.rmtree(folder, ignore_errors=True)
            return server.busy(str(e))
        job.progress.deadline = time.time() + server.settings.job_timeout
        try:
            job.future = server.pool.submit(server.run_job, job, options, upload)
        except Busy as e:
            server.jobs.cancel(job.id)
            return server.busy(str(e))
        return JSONResponse(job.view(), status_code=202)


def _add_job_routes(app: FastAPI, server: Server, auth) -> None:
    found, finished = server.job, server.finished_job

    @app.get("/v1/jobs/{job_id}", summary="A job's progress", tags=["jobs"], dependencies=[auth])
    async def job_status(job_id: str) -> dict:
        return found(job_id).view()

    @app.delete("/v1/jobs/{job_id}", summary="Cancel a job and delete its files", tags=["jobs"], dependencies=[auth])
    async def cancel_job(job_id: str) -> dict:
        job = server.jobs.cancel(job_id)
        if job is None:
            raise UploadError(404, f"no job {job_id!r}")
        return {"id": job_id, "state": job.state if job.state in (DONE, FAILED) else CANCELLED, "deleted": True}

    @app.get("/v1/jobs/{job_id}/preview", summary="A running job's latest drawn frame (JPEG)", tags=["jobs"],
             dependencies=[auth], response_class=Response)
    async def job_preview(job_id: str) -> Response:
        """The latest drawn frame, renewed about twice a second while the job runs (header `X-Frame`: its index);
        404 before the first one."""
        progress = found(job_id).progress
        if progress.preview is None:
            raise UploadError(404, f"job {job_id} has no drawn frame yet")
        return Response(progress.preview, media_type="image/jpeg", headers={"X-Frame": str(progress.preview_frame),
                                                                            "Cache-Control": "no-store"})

    @app.get("/v1/jobs/{job_id}/result", summary="A finished job's COCO results", tags=["jobs"], dependencies=[auth])
    async def job_result(job_id: str) -> FileResponse:
        return FileResponse(finished(job_id).result_path, media_type="application/json")

    @app.get("/v1/jobs/{job_id}/video", summary="A finished job's drawn video (VP8 WebM)", tags=["jobs"],
             dependencies=[auth])
    async def job_video(job_id: str) -> FileResponse:
        job = finished(job_id)
        return FileResponse(job.video_path, media_type=work.VIDEO_MEDIA_TYPE,
                            filename=f"{Path(job.file_name).stem}_pose{work.VIDEO_SUFFIX}")
