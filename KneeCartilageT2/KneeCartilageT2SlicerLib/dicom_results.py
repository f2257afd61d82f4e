"""Save the input's T2 map and T2-coloured cartilage as DICOM series of its study, from the scene (no Qt).

The core writer (:func:`KneeCartilageT2Lib.result_dicom.write_t2_dicom`)
needs the source series' files to copy the patient, study and frame of
reference from and to link each new image to its slice's echoes. They are
found from how the series came into Slicer: the files behind each echo's
``DICOM.instanceUIDs`` in Slicer's DICOM database (the DICOM module), else the
folder *Load MESE folder...* read. The colour image shows the segment as it is
now (the reader's edits included); the T2 map is the fitted map node.
"""

from __future__ import annotations

from typing import List, Union

from KneeCartilageT2Lib.errors import InputError

from .exam_from_nodes import ANATOMY_TE_MS, DICOM_FOLDER_ATTRIBUTE, DICOM_INSTANCES_ATTRIBUTE, reference_volume_for
from .mrml_helpers import echo_nodes_of, sequence_behind
from .readback import result_nodes_of
from .results_nodes import T2_METHOD_ATTRIBUTE
from .segmentation_nodes import read_segment
from .translation import tr as _
from .volume_nodes import node_to_volume


def source_dicom_of(input_node) -> Union[str, List[str]]:
    """The DICOM files (or the folder) the input series was loaded from; InputError when there are none."""
    import slicer

    sequence = sequence_behind(input_node)  # None for a plain (multi-volume) node
    uids = [uid for node in echo_nodes_of(input_node)
            for uid in (node.GetAttribute(DICOM_INSTANCES_ATTRIBUTE) or "").split()]
    database = getattr(slicer, "dicomDatabase", None)
    if uids and database is not None:
        files = [path for path in (database.fileForInstance(uid) for uid in uids) if path]
        if files:
            return files
    folder = (sequence or input_node).GetAttribute(DICOM_FOLDER_ATTRIBUTE)
    if folder:
        return folder
    raise InputError(_("'{name}' was not loaded from DICOM files this module can find (through Slicer's DICOM "
                       "database or 'Load MESE folder...'): a T2 map can only be saved as DICOM into the study of its "
                       "source series. Load the series from DICOM and analyse it again.").format(
        name=input_node.GetName()))


def results_to_dicom(source, out_dir, colour: bool = True):
    """Write the input's T2 map (and T2 colour overlay) as DICOM into ``out_dir``; returns the core's ResultDicom.

    ``source`` is the panel's :class:`workflow.ExamInput`; without echo times of its own, the echoes are read with
    those the analysis recorded (the times its T2 map was fitted with), else those stored with the node.
    Refuses inputs with
    no analysis, inputs under a moving transform (the results then lie where
    the transform puts them, not at the positions of the DICOM files) and
    inputs not loaded from DICOM.
    """
    from KneeCartilageT2Lib.result_dicom import write_t2_dicom

    reference = reference_volume_for(source.node, create_browser=False) if source.node is not None else None
    results = result_nodes_of(reference) if reference is not None else None
    if results is None or results.t2_map is None or results.segmentation is None:
        raise InputError(_("Nothing to save yet: run 'Segment & measure' first."))
    exam = source.analysed_exam(results.segmentation)
    if exam.metadata.get("moved_by_transform"):
        raise InputError(_("The series is under the transform '{transform}': its results lie where the transform "
                           "puts them, not at the scanner positions of its DICOM files. Remove the transform and "
                           "analyse it again to save DICOM.").format(transform=exam.metadata["moved_by_transform"]))
    files = source_dicom_of(source.node)
    provenance = {"echo_times_ms": [float(t) for t in exam.echo_times_ms],
                  "t2": {"method": results.t2_map.GetAttribute(T2_METHOD_ATTRIBUTE) or "mono"}}
    return write_t2_dicom(node_to_volume(results.t2_map), read_segment(results.segmentation, reference),
                          exam.echo_volume(exam.echo_index_nearest(ANATOMY_TE_MS)), provenance, files, out_dir,
                          colour)
