"""The pre-deep pipeline, one idea per module:

- :mod:`.distance_transform`: Felzenszwalb-Huttenlocher generalized distance transform (1D / 2D, max form);
- :mod:`.tree`: the LSP-14 tree, Gaussian springs, exact MAP by dynamic programming (with part types);
- :mod:`.features`: dense HOG (scikit-image) and the window layout every detector uses;
- :mod:`.parts`: part-type detectors (logistic regression, hard negatives);
- :mod:`.pictorial`: pictorial structures (``ps``): scale search + tree MAP;
- :mod:`.poselets`: poselet-conditioned pictorial structures (``pcps``, Pishchulin et al. 2013);
- :mod:`.cnn_unaries`: the same tree on the default network's heatmaps (``ps_cnn``);
- :mod:`.io`: their weights files and ``load_model``'s entry point.
"""
