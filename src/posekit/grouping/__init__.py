"""Multi-person assembly: grouping body-part candidates into people.

- :mod:`posekit.grouping.ilp`: DeepCut's joint subset partition and labeling integer linear program
  (Pishchulin et al. 2016), solved exactly by ``scipy.optimize.milp`` (HiGHS) with lazy transitivity.
- :mod:`posekit.grouping.deepcut`: DeepCut's terms -- body-part candidates, calibrated unary part-class
  probabilities and logistic-regression pairwise "same person" probabilities on geometric features --
  their fitting, and the grouping of one image through the ILP (:func:`~posekit.grouping.deepcut.group`).

The greedy part-affinity-field grouping of Cao et al. 2017 is not in this package: it lives beside its
fields in :mod:`posekit.codecs.paf` (``PAFCodec.decode``).
"""
