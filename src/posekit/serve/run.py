"""Running the app with uvicorn (what ``posekit serve`` calls)."""

from __future__ import annotations

from posekit.serve.settings import ServeSettings


def serve(settings: ServeSettings) -> None:
    """Serve until interrupted; a ValueError before binding for unsafe settings (:meth:`ServeSettings.check`),
    an ImportError naming the extra when FastAPI / uvicorn are not installed."""
    settings.check()
    try:
        import uvicorn

        from posekit.serve.app import create_app
    except ImportError as e:
        raise ImportError(f"posekit serve needs the serve extra: pip install 'posekit[serve]' ({e})") from None
    app = create_app(settings)
    where = f"http://{settings.host if ':' not in settings.host else f'[{settings.host}]'}:{settings.port}/"
    print(f"posekit serve: {where} (API docs {where}docs); model {settings.model}, {settings.workers} worker(s) x "
          f"{settings.threads_per_worker} thread(s); Ctrl-C stops it", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                limit_concurrency=max(64, 8 * settings.queue_limit), timeout_keep_alive=5)
