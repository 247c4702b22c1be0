"""The pre-deep pipeline: pictorial structures (tree model, springs, exact MAP by generalized distance
transforms) on HOG part detectors, its poselet-conditioned variant (Pishchulin et al. 2013), and the
same tree inference on the default network's heatmaps."""
