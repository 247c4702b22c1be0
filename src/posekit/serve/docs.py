"""What the OpenAPI page (/docs) shows for the upload routes: the multipart body and example answers.

The upload routes read their body as a stream (:mod:`posekit.serve.uploads`), so FastAPI cannot infer the form
from their signature; it is written out here once for both.
"""

from __future__ import annotations

PREDICT_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "a photo (JPEG, PNG, GIF, BMP, TIFF, WebP)"},
            "video": {"type": "string", "format": "binary", "description": "a video (MP4, AVI, WebM, MOV, MKV)"},
            "file": {"type": "string", "format": "binary", "description": "either; told apart by its first bytes"},
            "model": {"type": "string", "description": "a name from GET /v1/models (default: the server's)",
                      "example": "default"},
            "person_threshold": {"type": "number", "minimum": 0, "maximum": 1,
                                 "description": "people scoring less are left out (default: the model's own)"},
            "track": {"type": "boolean", "description": "videos: follow people through the frames (track_id)"},
        },
    }}},
}

PREDICT_EXAMPLE = {
    "model": "default", "model_sha256": "1527cbfb...", "kind": "image", "file_name": "basketball1.png",
    "sha256": "9a0c...", "person_threshold": 0.2, "tracked": False, "seconds": 0.41,
    "images": [{"id": 1, "file_name": "basketball1.png", "width": 640, "height": 480}],
    "results": [{"image_id": 1, "category_id": 1, "keypoints": [86.8, 119.8, 0.73, "... 17 x (x, y, score)"],
                 "score": 0.584, "bbox": [55.8, 90.2, 81.2, 350.6], "skeleton": "coco17",
                 "file_name": "basketball1.png"}],
}

JOB_EXAMPLE = {"id": "k3J9x0aQ1c2B4n5M", "state": "queued", "file_name": "clip.mp4", "model": "default",
               "frames_done": 0, "frames_total": 0, "progress": 0.0, "seconds": 0.0}
