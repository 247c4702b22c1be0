"""What runs the networks: PyTorch or ONNX Runtime (:mod:`posekit.runtime.onnx`), on which device
(:mod:`posekit.runtime.device`), and the one cache folder posekit writes to (:mod:`posekit.runtime.cache`).

This layer imports nothing from the prediction or training code above it.
"""
