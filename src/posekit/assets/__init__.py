"""Files shipped with posekit (see SOURCE.txt): the demo photo every ONNX export is checked on."""

from pathlib import Path

#: a frame of OpenCV's vtest.avi sample video (Apache-2.0 / BSD; SOURCE.txt)
DEMO_IMAGE = Path(__file__).parent / "pedestrians.png"
