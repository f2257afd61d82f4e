"""Save an input's analysis from the scene as a result folder, the same files ``knee-t2 demo`` and ``batch`` write.

A reader who corrected the model's segment in Slicer gets the folder a script
or a colleague expects: ``label.nrrd``, ``t2.nrrd``, ``regions/`` (tables,
maps, figure), previews, ``provenance.json`` and ``report.html``
(:mod:`KneeCartilageT2Lib.analysis_report`), measured in the segment as it is
now (the reader's edits included) with the T2 fit of the scene's T2 map, and
with the model's name and the original fit's settings carried over from the
segmentation's provenance. ``knee-t2 change`` accepts the folder, and so does
``knee-t2 to-dicom`` given the exam's DICOM folder (``--source``): like every
result folder it names its input by the last part of a path at most
(:mod:`KneeCartilageT2Lib.result_privacy`; a scene's exam has no path). No Qt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.slice_rule import SliceRule

from .readback import model_label_of, provenance_of, result_nodes_of, t2_fit_from_nodes
from .segmentation_nodes import read_segment
from .translation import tr as _


def save_result_folder(source, out_dir, options) -> Path:
    """Write the analysis of ``source`` (the panel's :class:`workflow.ExamInput`) into ``out_dir``; returns it.

    ``options``: the panel's analysis options (side, region mode), as *Recompute* uses them.
    """
    from KneeCartilageT2Lib.pipeline import measure, refuse_foreign_folder, write_analysis

    refuse_foreign_folder(out_dir)  # a folder of the user's own files is never written over
    reference = source.reference_volume()
    results = result_nodes_of(reference)
    if results.segmentation is None or results.t2_map is None:
        raise InputError(_("Nothing to save yet: run 'Segment & measure' first."))
    label = read_segment(results.segmentation, reference)
    stored = provenance_of(results.segmentation)
    result = measure(source.exam(), label.array, t2=t2_fit_from_nodes(results.t2_map, results.r2_map, results.t2_status),
                     options=options, label_source=_label_source(reference, label.array, stored),
                     slice_rule=SliceRule.from_provenance(stored))  # a slice the rule emptied is told as such
    for key in ("segmentation", "t2"):  # the model behind the segment; the fit's own settings (not "rebuilt")
        if stored.get(key):
            result.provenance[key] = stored[key]
    return write_analysis(result, Path(out_dir))


def _label_source(reference, label: np.ndarray, stored) -> str:
    """'model' when the segment is still the model's output, 'corrected' when a reader changed it, else as
    recorded ('given': a label the reader brought)."""
    original = model_label_of(reference)
    if original is not None:
        return "model" if np.array_equal(np.asarray(original.array) > 0, np.asarray(label) > 0) else "corrected"
    return str(stored.get("label_source") or "given")
