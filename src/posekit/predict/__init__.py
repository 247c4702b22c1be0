"""Prediction: trained networks wrapped for images, folders and videos, in data-flow order.

- :mod:`~posekit.predict.inputs`     files, folders and video frames in
- :mod:`~posekit.predict.base`       the one :class:`~posekit.predict.base.Predictor` base: image and box
                                     checks, the device, the video loop
- :mod:`~posekit.predict.flip`       the network pass with the flip test
- :mod:`~posekit.predict.detectors`  person detectors behind one ``detect(image)`` interface
- :mod:`~posekit.predict.people`     person scores and OKS-NMS
- :mod:`~posekit.predict.topdown`    detector -> crops -> pose network (G-RMI), the default
- :mod:`~posekit.predict.bottomup`   one pass over the whole image, people grouped by part affinity fields
- :mod:`~posekit.predict.deepcut`    the same maps grouped by the DeepCut ILP
- :mod:`~posekit.predict.classic`    pictorial structures (and the tree decoding of CNN heatmaps)
- :mod:`~posekit.predict.build`      a predictor from a checkpoint or an exported folder

``posekit.load_model`` (:mod:`posekit.api`) is the entry point; this package imports nothing above it.
"""
