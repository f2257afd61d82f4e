"""KneeCartilageT2 Slicer glue: core results <-> MRML nodes.

The computing happens in :mod:`KneeCartilageT2Lib` (no Slicer imports). This
package only converts between that package's objects (``Volume``,
``MeseExam``, result folders, region tables) and MRML nodes, starts the worker
process, and implements the module's buttons in :mod:`.workflow`. It may
import ``slicer``, ``vtk`` and MRML, never Qt, so that everything here runs in
the headless slicer-core test harness as well as in Slicer.

Conventions: the same as the core package (arrays ``[k, j, i]``, 4x4
``ijk_to_ras`` in mm, times in ms). Every node this package creates for a
result carries the attribute ``KneeT2.Role`` and a ``KneeT2.Source`` node
reference to the input it was computed from, so that running again updates
the same nodes instead of piling up new ones.
"""
