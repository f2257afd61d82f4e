"""Helpers for tests that edit the cartilage segment as a reader would and finish model runs without a worker."""

from __future__ import annotations

import numpy as np


def cartilage_mask(reference_volume) -> np.ndarray:
    """The 'Femoral cartilage' segment of the input shown by ``reference_volume``, as a bool (slice, row, col) mask."""
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment

    return np.asarray(read_segment(result_nodes_of(reference_volume).segmentation, reference_volume).array) > 0


def set_cartilage(reference_volume, mask) -> None:
    """Replace the segment's voxels with ``mask``, through the path the Segment Editor's effects write through."""
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment

    segmentation = result_nodes_of(reference_volume).segmentation
    label = read_segment(segmentation, reference_volume)
    write_segment(segmentation, segment_id_by_name(segmentation, "Femoral cartilage"),
                  label.with_array(np.asarray(mask, dtype=np.uint8)))


def finish_model_run(reference_volume, result, replaces_edits: bool = False, source=None):
    """Present ``result`` (an AnalysisResult) as a finished 'Segment & measure' of the input does; its ResultNodes.

    ``source``: the run's ExamInput (what the panel gave: echo times, side); default the input as it is."""
    from slicer_harness import FinishedJob

    from KneeCartilageT2SlicerLib.workflow import AnalysisRun, ExamInput, KneeT2Workflow, current_segment, default_options

    source = source or ExamInput(reference_volume)
    run = AnalysisRun(FinishedJob(result), source.exam(), reference_volume,
                      current_segment(reference_volume), default_options(t2_method="loglinear"), replaces_edits,
                      source=source)
    return KneeT2Workflow().finish_segment_and_measure(run)


def forget_saved_draft(reference_volume) -> None:
    """Forget which voxels were last kept as the draft, as a scene loaded anew would not know them."""
    from KneeCartilageT2SlicerLib.case_drafts import DRAFT_DIGEST_ATTRIBUTE, DRAFT_FILE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.mrml_helpers import set_input_attribute

    set_input_attribute(reference_volume, DRAFT_DIGEST_ATTRIBUTE, None)
    set_input_attribute(reference_volume, DRAFT_FILE_ATTRIBUTE, None)
