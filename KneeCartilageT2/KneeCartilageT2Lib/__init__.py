"""KneeCartilageT2 core: quantitative knee cartilage MRI without Slicer.

Everything that computes lives here (numpy / torch / SimpleITK only, no Slicer
imports) so that it runs headless, in batch, and inside a PythonSlicer child
process. Conventions used throughout the package:

* 3D arrays are indexed ``[k, j, i]`` = ``(slice, row, col)``, the order that
  SimpleITK's ``GetArrayFromImage`` and Slicer's ``arrayFromVolume`` return.
* Multi-echo arrays are ``(echo, slice, row, col)``.
* Geometry is a 4x4 ``ijk_to_ras`` matrix (float64, millimetres) mapping the
  homogeneous index ``(i=col, j=row, k=slice, 1)`` to patient RAS, exactly as
  Slicer's ``vtkMRMLVolumeNode.GetIJKToRASMatrix``.
* Times are in milliseconds (ms), lengths in millimetres (mm).

Code here must stay valid Python 3.9 (Slicer 5.8) and import torch lazily.
"""

__version__ = "0.1.0"
