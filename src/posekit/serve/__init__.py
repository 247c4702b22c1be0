"""``posekit serve``: a local web page and an HTTP API over posekit's predictors.

Why this stack -- FastAPI on uvicorn, with python-multipart:

- all three are well kept and widely used (FastAPI/Starlette and uvicorn by the encode / FastAPI teams, python-
  multipart is the parser Starlette itself uses);
- FastAPI writes the OpenAPI document (``/openapi.json``) and its pages (``/docs``, ``/redoc``) from the routes, for
  free; fastapi-offline serves their Swagger UI / ReDoc scripts from the package instead of a CDN, so the pages
  work with no internet (swagger-ui-bundle's Swagger UI 4.15 cannot read the OpenAPI 3.1 FastAPI writes);
- uploads are parsed as they stream in (python-multipart's push parser on Starlette's ``request.stream()``), so
  the size limit holds without spooling a whole oversized body first;
- Starlette's TestClient runs the app in-process for the tests, and uvicorn serves the same app on a socket.

Modules: :mod:`~posekit.serve.settings` (flags, safe defaults), :mod:`~posekit.serve.uploads` (streamed upload,
limits, what the bytes are), :mod:`~posekit.serve.pool` (bounded worker threads, each with its own predictors),
:mod:`~posekit.serve.work` (a photo's / a video's people as COCO results), :mod:`~posekit.serve.jobs` (video jobs),
:mod:`~posekit.serve.app` (the routes), :mod:`~posekit.serve.run` (uvicorn), :mod:`~posekit.serve.loadtest` (a load
generator); the page is ``static/index.html``.
Needs the ``serve`` extra: ``pip install 'posekit[serve]'``.
"""
