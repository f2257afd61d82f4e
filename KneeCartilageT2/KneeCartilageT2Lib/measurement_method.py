"""Which version of the measurement methods produced a result.

The tool's release number says which code ran; this marker says whether the numbers it
measures (T2 fit, label refinement, subregions, thickness) can be compared with an earlier
result. It changes only when a change moves measured figures, so a cohort resumed after an
upgrade knows which finished scans were measured differently: the batch runs them again
rather than mixing two methods in one cohort table (:func:`batch_tasks.same_scan`), and
``provenance.json`` records it for every analysis.

History (newest first):

* ``2026-12-06b`` (a second change released that day): the T2 fit gives no T2 to voxels
  whose fitted echoes are not above the background noise (:mod:`t2_signal`; every method): the
  label's T2 rule then removes such candidate voxels, and region T2 no longer includes them (none
  in cartilage on the GE exam or the phantoms, but a dim voxel can now leave the label); and
  thickness within a slice is the distance to the local line through the articular surface
  points, not to the nearest of them (:mod:`thickness_local`): surfaces tilted to the voxel
  grid read 2-2.5 % thin (GE exam whole plate 1.64 -> 1.65 mm); where no articular point lies
  near the foot of that line (past the end of the sampled surface, a slice with one or two
  points) the nearest point's distance is kept. Both thickness changes were made before this
  marker was released, so they share it.
* ``2026-12-06``: thickness along the surface normal across thick slices (a surface tilted
  out of the slice plane read ``1 / cos(tilt)`` thick; :mod:`thickness_slices`); on a
  sheared grid the medial-lateral axis is the slices' normal; improved-mode deep/superficial
  falls back to a radial half-split where the two surfaces cannot be told apart.
* ``2026-12-05``: results before the marker was recorded (no ``measurement_method`` key).
"""

MEASUREMENT_METHOD = "2026-12-06b"
