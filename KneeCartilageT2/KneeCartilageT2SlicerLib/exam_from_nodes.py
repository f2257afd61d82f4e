"""MESE exams <-> Slicer nodes.

A multi-echo series reaches Slicer in one of these forms, all accepted by
:func:`exam_from_node`:

* a sequence of scalar volumes, one per echo (DICOM import as "Sequence",
  or :func:`exam_to_sequence`), selected as the sequence, its browser, or
  the proxy volume shown in the views;
* a multi-volume / vector volume with one component per echo (Slicer's
  MultiVolumeImporter; echo times in its ``MultiVolume.FrameLabels``
  attribute);
* a list of scalar volumes, one per echo (:func:`exam_from_volume_nodes`).

Echo times (ms) come from the argument when given, else from the node: the
sequence index when it is an echo time, the ``MultiVolume.FrameLabels``
attribute, or ``KneeT2.EchoTimesMs`` written by :func:`exam_to_sequence`.
Echoes are returned in increasing TE order with the geometry of the node in
world space.
"""

from __future__ import annotations

import hashlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
import slicer

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam, normalize_laterality, validate_exam
from KneeCartilageT2Lib.grid_order import right_handed

from .mrml_helpers import (echo_nodes_of, ijk_to_ras_of, matrix_to_vtk, module_logic, moving_transform_name,
                           nodes_of_class, parent_to_world, sequence_behind, set_input_attribute)
from .translation import tr as _

ECHO_TIMES_ATTRIBUTE = "KneeT2.EchoTimesMs"
LATERALITY_ATTRIBUTE = "KneeT2.Laterality"
# Exam provenance kept on a sequence made by exam_to_sequence, read back by _node_metadata: the series
# UID (identity for the dataset export), what MeseExam.in_scanner_frame decides from, and the JSON sidecar
# an echo stack was read with (MeseExam.laterality_source: its side is the sidecar's, not a DICOM tag's).
PROVENANCE_ATTRIBUTES = {
    "SeriesInstanceUID": "KneeT2.SeriesInstanceUID",
    "source_format": "KneeT2.SourceFormat",
    "moved_by_transform": "KneeT2.MovedByTransform",
    "intensity_scaling": "KneeT2.IntensityScaling",
    "sidecar": "KneeT2.Sidecar",
}
LOADER_WARNINGS_ATTRIBUTE = "KneeT2.LoaderWarnings"  # what the loader noticed, one per line
DICOM_INSTANCES_ATTRIBUTE = "DICOM.instanceUIDs"  # set by Slicer's DICOM plugins on the volumes they load
ECHO_IMAGES_DIGEST_ATTRIBUTE = "KneeT2.EchoImagesDigest"  # see echo_images_digest
SERIES_UID_TAG = "0020,000E"  # as ctkDICOMDatabase names tags
DICOM_FOLDER_ATTRIBUTE = "KneeT2.DicomFolder"  # the folder 'Load MESE folder...' read (not provenance: a local path)
_DISPLAY_SCALE_CHECKS: dict = {}  # (count, first, last instance UID) -> problem text or None: headers read once
FRAME_LABELS_ATTRIBUTE = "MultiVolume.FrameLabels"
FRAME_TAG_ATTRIBUTE = "MultiVolume.FrameIdentifyingDICOMTagName"  # which DICOM tag tells the frames apart
FRAME_UNITS_ATTRIBUTE = "MultiVolume.FrameIdentifyingDICOMTagUnits"
ECHO_TIME_INDEX_NAMES = ("echotime", "echo time", "echo_time", "te")
GEOMETRY_TOLERANCE_MM = 1e-3
ANATOMY_TE_MS = 20.0


class EchoTimesNotStored(InputError):
    """The input does not store its echo times (ms) and none were given: the reader must type them."""


def no_echo_times(name: str) -> str:
    """The panel's error for an input whose echo times (ms) are not stored with it (translated, then filled in)."""
    return _("The echo times of '{name}' are not stored with it: type them (ms, comma separated, one per echo) in "
             "the Echo times field.").format(name=name)


def exam_from_node(node, echo_times_ms: Optional[Sequence[float]] = None, laterality: Optional[str] = None) -> MeseExam:
    """The MESE exam held by a sequence, sequence browser, proxy volume or multi-volume node."""
    if node is None:
        raise InputError(_("No input selected: choose the MESE series (sequence or multi-volume)."))
    sequence = sequence_behind(node)
    if sequence is not None:
        _refuse_varying_display_scale(echo_nodes_of(sequence))
        exam = exam_from_sequence(sequence, echo_times_ms, laterality or _laterality_of(node))
        return _moved_with_proxy(exam, reference_volume_for(node, create_browser=False))
    if node.IsA("vtkMRMLVolumeNode") and node.GetImageData() is not None:
        if node.GetImageData().GetNumberOfScalarComponents() > 1:
            _refuse_varying_display_scale([node])
            return exam_from_multicomponent_volume(node, echo_times_ms, laterality)
        raise InputError(_(
            "'{name}' is a single 3D volume; T2 mapping needs all echoes: select the MESE sequence or multi-volume, "
            "or load the DICOM folder with 'Load MESE folder...' (Input section).").format(name=node.GetName()))
    raise InputError(_("'{name}' ({kind}) does not hold a multi-echo series.").format(name=node.GetName(),
                                                                                      kind=node.GetClassName()))


def _refuse_varying_display_scale(nodes) -> None:
    """Refuse echoes Slicer's DICOM module loaded from a Philips series whose scale varies between images.

    Slicer applies RescaleSlope/Intercept only; the files behind the nodes
    (``DICOM.instanceUIDs``, found through Slicer's DICOM database) say
    whether Philips' private scale would have changed the echo ratios
    (:func:`KneeCartilageT2Lib.dicom_philips.displayed_scale_problem`).
    Nodes without DICOM provenance, or no database, are not checked.
    """
    database = getattr(slicer, "dicomDatabase", None)
    uids = [uid for node in nodes if node is not None
            for uid in (node.GetAttribute(DICOM_INSTANCES_ATTRIBUTE) or "").split()]
    if database is None or not uids:
        return
    key = (len(uids), uids[0], uids[-1])
    if key not in _DISPLAY_SCALE_CHECKS:
        from KneeCartilageT2Lib.dicom_philips import displayed_scale_problem

        paths = [path for path in (database.fileForInstance(uid) for uid in uids) if path]
        _DISPLAY_SCALE_CHECKS[key] = displayed_scale_problem(paths)
    if _DISPLAY_SCALE_CHECKS[key]:
        raise InputError(_DISPLAY_SCALE_CHECKS[key])


def reference_volume_for(node, create_browser: bool = True):
    """The volume node that shows ``node`` in the views and fixes the results' geometry.

    A volume is its own reference; a sequence or browser is represented by
    its proxy volume. A browser is added for a sequence that has none, unless
    ``create_browser`` is False (then None is returned: used by code that only
    looks, such as the panel's button states).
    """
    if node is None:
        raise InputError(_("No input selected: choose the MESE series (sequence or multi-volume)."))
    if node.IsA("vtkMRMLVolumeNode"):
        return node
    sequence = sequence_behind(node)
    if sequence is None:
        raise InputError(_("'{name}' ({kind}) does not hold a multi-echo series.").format(name=node.GetName(),
                                                                                          kind=node.GetClassName()))
    scene = node.GetScene()
    browser = node if node.IsA("vtkMRMLSequenceBrowserNode") else _browser_of(scene, sequence)
    if browser is None and not create_browser:
        return None
    if browser is None:
        browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", scene.GenerateUniqueName(sequence.GetName() + " browser"))
        browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    proxy = browser.GetProxyNode(sequence)
    if proxy is None and create_browser:
        module_logic("sequences").UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(sequence)
    if proxy is None and not create_browser:
        return None
    if proxy is None or not proxy.IsA("vtkMRMLVolumeNode"):
        raise InputError(_("The sequence '{name}' does not hold volumes.").format(name=sequence.GetName()))
    return proxy


def _moved_with_proxy(exam: MeseExam, proxy) -> MeseExam:
    """The sequence exam placed where the views draw it: under the proxy volume's transform.

    The echoes stored in a sequence carry no transform; a transform the user
    puts on the proxy moves what the views show, and the results, built on
    the exam's grid in world space, must land there too.
    """
    if proxy is None:
        return exam
    to_world = parent_to_world(proxy)
    moved_by = moving_transform_name(proxy)
    if not moved_by:
        return exam
    exam.ijk_to_ras = to_world @ exam.ijk_to_ras
    exam.metadata["moved_by_transform"] = moved_by
    return exam


def _browser_of(scene, sequence):
    for browser in nodes_of_class(scene, "vtkMRMLSequenceBrowserNode"):
        if browser.IsSynchronizedSequenceNodeID(sequence.GetID(), True):
            return browser
    return None


def _laterality_of(node) -> Optional[str]:
    return node.GetAttribute(LATERALITY_ATTRIBUTE)


def exam_from_sequence(sequence, echo_times_ms=None, laterality: Optional[str] = None) -> MeseExam:
    """An exam from a sequence whose data nodes are the echoes (scalar volumes of one geometry)."""
    count = sequence.GetNumberOfDataNodes()
    if count < 2:
        raise InputError(_("The sequence '{name}' has {count} item(s); a MESE series needs one per echo.").format(
            name=sequence.GetName(), count=count))
    nodes = [sequence.GetNthDataNode(index) for index in range(count)]
    if echo_times_ms is None:
        echo_times_ms = _echo_times_from_sequence(sequence)
    exam = exam_from_volume_nodes(nodes, echo_times_ms, laterality or _laterality_of(sequence), sequence.GetName())
    exam.metadata.update(_node_metadata(sequence))
    return exam


def _echo_times_from_sequence(sequence) -> List[float]:
    stored = _parse_times(sequence.GetAttribute(ECHO_TIMES_ATTRIBUTE))
    if stored and len(stored) == sequence.GetNumberOfDataNodes():  # an item removed since: the index says which
        return stored
    if (sequence.GetIndexName() or "").strip().lower() in ECHO_TIME_INDEX_NAMES:
        scale = 1000.0 if (sequence.GetIndexUnit() or "ms").strip().lower() == "s" else 1.0
        try:
            return [float(sequence.GetNthIndexValue(i)) * scale for i in range(sequence.GetNumberOfDataNodes())]
        except ValueError:
            pass
    raise EchoTimesNotStored(no_echo_times(sequence.GetName()))


def exam_from_volume_nodes(nodes, echo_times_ms, laterality: Optional[str] = None, name: str = "") -> MeseExam:
    """An exam from scalar volume nodes (one per echo, same geometry) and their echo times (ms)."""
    if echo_times_ms is None:
        raise EchoTimesNotStored(no_echo_times(name or _("the selected volumes")))
    times = np.asarray([float(value) for value in echo_times_ms])
    if len(times) == len(nodes) and len(np.unique(np.round(times, 3))) < len(times):
        raise InputError(_(
            "'{name}' holds more than one volume per echo time ({volumes} volumes, {times} echo times): magnitude "
            "and phase images, or a repeated series, loaded together. Load the folder with 'Load MESE folder...' "
            "(Input section), which keeps the magnitude images and names a repeat, or load only the magnitude "
            "series.").format(name=name or _("The selected volumes"), volumes=len(times),
                              times=len(np.unique(np.round(times, 3)))))
    if len(times) != len(nodes):
        raise InputError(_("{times} echo times were given for {echoes} echoes; give one echo time (ms) per "
                           "echo.").format(times=len(times), echoes=len(nodes)))
    for index, node in enumerate(nodes):
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.GetImageData() is None:
            raise InputError(_("Echo {echo} of '{name}' is not a scalar volume.").format(echo=index + 1, name=name))
        components = node.GetImageData().GetNumberOfScalarComponents()
        if components != 1:  # a vector volume is a scalar volume node too: a sequence of colour images, say
            refuse_non_echo_components(node)
            raise InputError(_("Echo {echo} of '{name}' has {components} components per voxel; each echo must be "
                               "one scalar volume.").format(echo=index + 1, name=name, components=components))
    reference = ijk_to_ras_of(nodes[0])
    arrays = []
    for index, node in enumerate(nodes):
        if not np.allclose(ijk_to_ras_of(node), reference, atol=GEOMETRY_TOLERANCE_MM):
            raise InputError(_("Echo {echo} of '{name}' has another geometry than echo 1; all echoes must share one "
                               "grid.").format(echo=index + 1, name=name))
        arrays.append(np.asarray(slicer.util.arrayFromVolume(node), dtype=np.float32))
    if len({array.shape for array in arrays}) != 1:
        raise InputError(_("The echoes of '{name}' have different sizes; all echoes must share one grid.").format(
            name=name))
    order = np.argsort(times, kind="stable")
    exam = MeseExam(np.stack([arrays[i] for i in order]), times[order], reference, _side(laterality),
                    {"slicer_node": name})
    return validate_exam(exam)


def exam_from_multicomponent_volume(node, echo_times_ms=None, laterality: Optional[str] = None) -> MeseExam:
    """An exam from a vector / multi-volume node with one component per echo."""
    refuse_non_echo_components(node)
    array = np.asarray(slicer.util.arrayFromVolume(node), dtype=np.float32)  # (k, j, i, echo)
    if echo_times_ms is None:
        echo_times_ms = _parse_times(node.GetAttribute(ECHO_TIMES_ATTRIBUTE)) or _frame_label_times(node)
    if not echo_times_ms:
        raise EchoTimesNotStored(no_echo_times(node.GetName()))
    times = np.asarray(echo_times_ms, dtype=np.float64)
    if len(times) != array.shape[-1]:
        raise InputError(_("{times} echo times were given for the {echoes} echoes of '{name}'; give one per "
                           "echo.").format(times=len(times), echoes=array.shape[-1], name=node.GetName()))
    order = np.argsort(times, kind="stable")
    echoes = np.moveaxis(array, -1, 0)[order]
    exam = MeseExam(echoes, times[order], ijk_to_ras_of(node), _side(laterality or _laterality_of(node)),
                    _node_metadata(node))
    return validate_exam(exam)


VTK_UNSIGNED_CHAR = 3  # vtkType.h
COLOUR_COMPONENTS = (3, 4)  # RGB, RGBA


def refuse_non_echo_components(node) -> None:
    """Refuse a vector volume whose components are colours or spatial vectors, not echoes.

    Slicer marks what a vector volume's components are (``GetVoxelVectorType``:
    RGB or RGBA colour for a screenshot or a colour-coded map, spatial for a
    displacement field); a multi-volume loaded from a MESE series has them
    undefined. A node without that mark is still refused when it has the layout
    of colour images, 3 or 4 components of 8-bit unsigned integers, which no MR
    magnitude echoes have (the rule the command line applies to files,
    :mod:`KneeCartilageT2Lib.vector_pixel_checks`).
    """
    kinds = {}
    for name, text in (("VoxelVectorTypeColorRGB", _("an RGB colour image")),
                       ("VoxelVectorTypeColorRGBA", _("an RGBA colour image")),
                       ("VoxelVectorTypeSpatial", _("a vector field (e.g. a displacement field)")),
                       ("VoxelVectorTypeSpatialCovariant", _("a vector field (e.g. a gradient)"))):
        if hasattr(node, name):
            kinds[getattr(node, name)] = text
    found = kinds.get(node.GetVoxelVectorType()) if hasattr(node, "GetVoxelVectorType") else None
    image = node.GetImageData()
    components = image.GetNumberOfScalarComponents()
    if found is None and components in COLOUR_COMPONENTS and image.GetScalarType() == VTK_UNSIGNED_CHAR:
        found = _("an RGB colour image") if components == 3 else _("an RGBA colour image")
    if found is not None:
        raise InputError(_("'{name}' is {kind}: its {components} components per voxel are not MR echoes. Select the "
                           "MESE sequence or multi-volume, or load the DICOM folder with 'Load MESE folder...' "
                           "(Input section).").format(name=node.GetName(), kind=found, components=components))


def _node_metadata(node) -> dict:
    """Provenance of an exam read from a node: its name and, when loaded from DICOM, the series UID
    (the DICOM module's, or the one :func:`exam_to_sequence` kept) and the source format; when
    :func:`exam_to_sequence` put an echo stack in, its sidecar (the side's source).

    No ``source`` entry: node names are not unique, and the dataset export
    would take equal names for the same exam; it recognises exams by their
    series UID or, failing that, by their echo images. A volume under a
    linear transform that moves it is measured where the transform puts it,
    which is no longer the scanner's frame: ``moved_by_transform`` names the
    transform, so the side estimate does not read the knee's position there.
    """
    metadata = {"slicer_node": node.GetName()}
    for key, attribute in PROVENANCE_ATTRIBUTES.items():
        if node.GetAttribute(attribute):
            metadata[key] = node.GetAttribute(attribute)
    uid = _hierarchy_series_uid(node)
    if uid:
        metadata["SeriesInstanceUID"] = uid
    if node.GetAttribute(LOADER_WARNINGS_ATTRIBUTE):
        metadata["warnings"] = node.GetAttribute(LOADER_WARNINGS_ATTRIBUTE).split("\n")
    moved_by = moving_transform_name(node)
    if moved_by:
        metadata["moved_by_transform"] = moved_by
    return metadata


def series_uid_of(node) -> str:
    """The DICOM SeriesInstanceUID of the series an input node shows; "" when it was not loaded from DICOM.

    ``node`` is any input form (sequence, browser, proxy, multi-volume). Read
    without touching the voxels (it is asked after every settled edit): the
    DICOM item of the subject hierarchy (Slicer's DICOM module), the UID
    :func:`exam_to_sequence` kept, else the series of the first instance behind
    the echoes in Slicer's DICOM database.
    """
    if node is None:
        return ""
    sequence = sequence_behind(node)
    browser = _browser_of(node.GetScene(), sequence) if sequence is not None and node.GetScene() is not None else None
    holders = [holder for holder in (sequence, browser, node) if holder is not None]  # the DICOM module may tag any
    for holder in holders:
        uid = _hierarchy_series_uid(holder) or holder.GetAttribute(PROVENANCE_ATTRIBUTES["SeriesInstanceUID"])
        if uid:
            return str(uid)
    instances = [uid for echo in echo_nodes_of(node)
                 for uid in (echo.GetAttribute(DICOM_INSTANCES_ATTRIBUTE) or "").split()]
    database = getattr(slicer, "dicomDatabase", None)
    if instances and database is not None:
        return str(database.instanceValue(instances[0], SERIES_UID_TAG) or "").strip()
    return ""


def echo_images_digest(reference_volume) -> str:
    """SHA-256 of the echo images' voxels behind an input's reference volume (echo order as stored); "" for none.

    Names an input that has no series UID (NRRD, NIfTI, a scene without DICOM
    provenance) across scenes. Computed once (about 0.1 s for an OAI-size
    series) and kept as the input's ``KneeT2.EchoImagesDigest`` attribute, so
    the calls after each later edit cost nothing.
    """
    if reference_volume is None:
        return ""
    known = reference_volume.GetAttribute(ECHO_IMAGES_DIGEST_ATTRIBUTE)
    if known:
        return known
    digest = hashlib.sha256()
    for echo in echo_nodes_of(reference_volume):
        if not echo.IsA("vtkMRMLVolumeNode") or echo.GetImageData() is None:
            return ""
        voxels = slicer.util.arrayFromVolume(echo)
        digest.update(("%s|%s|" % (voxels.dtype.str, voxels.shape)).encode("ascii"))
        digest.update(np.ascontiguousarray(voxels).data)
    set_input_attribute(reference_volume, ECHO_IMAGES_DIGEST_ATTRIBUTE, digest.hexdigest())
    return digest.hexdigest()


def _hierarchy_series_uid(node) -> str:
    """The "DICOM" UID Slicer's DICOM module gives the node's subject-hierarchy item (the series UID), or ""."""
    scene = node.GetScene()
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene) if scene is not None else None
    item = hierarchy.GetItemByDataNode(node) if hierarchy is not None else 0
    return (hierarchy.GetItemUID(item, "DICOM") or "") if item else ""


def _frame_label_times(node) -> List[float]:
    """A multi-volume's frame labels, when its frames are told apart by echo time (not flip angle, trigger...)."""
    tag = (node.GetAttribute(FRAME_TAG_ATTRIBUTE) or "").strip().lower()
    if tag and tag not in ("echotime", "echo time", "0018,0081", "0018|0081"):
        return []  # e.g. FlipAngle: the labels are no echo times, the user types them
    times = _parse_times(node.GetAttribute(FRAME_LABELS_ATTRIBUTE))
    unit = (node.GetAttribute(FRAME_UNITS_ATTRIBUTE) or "ms").strip().lower()
    return [value * 1000.0 for value in times] if unit == "s" else times


def _parse_times(text: Optional[str]) -> List[float]:
    if not text:
        return []
    try:
        return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        return []


def _side(laterality: Optional[str]) -> str:
    return normalize_laterality(laterality) if laterality else "unknown"


def exam_to_sequence(exam: MeseExam, scene, name: str = "MESE") -> Tuple[object, object, object]:
    """Put an exam into the scene as a sequence (index: EchoTime, ms) with a browser.

    Returns ``(sequence, browser, proxy_volume)``; the browser shows the echo
    nearest 20 ms (the network's input echo), the proxy is the volume the
    views display. The exam's provenance (series UID, source format, a
    transform that had moved it, the JSON sidecar of an echo stack) and the
    loader's warnings are kept on the sequence, so reading it back decides
    :attr:`MeseExam.in_scanner_frame` and :attr:`MeseExam.laterality_source`
    (``"sidecar"``, not ``"dicom"``) the same way and the analysis still
    reports what the loader noticed.

    A left-handed exam (a NRRD written so, a mirrored phantom) goes in with its
    slices in reverse order on the same voxels (:func:`grid_order.right_handed`),
    as Slicer's own readers would load it: a saved scene then opens with the
    slices numbered as they were, so labels and drafts keep their place.
    """
    ijk_to_ras, reversed_slices = right_handed(exam.ijk_to_ras, exam.volume_shape)
    if reversed_slices:
        exam = MeseExam(np.ascontiguousarray(exam.echoes[:, ::-1]), exam.echo_times_ms, ijk_to_ras, exam.laterality,
                        dict(exam.metadata))
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", scene.GenerateUniqueName(name))
    sequence.SetIndexName("EchoTime")
    sequence.SetIndexUnit("ms")
    sequence.SetIndexType(sequence.NumericIndex)
    sequence.SetAttribute(ECHO_TIMES_ATTRIBUTE, ",".join("%.6g" % t for t in exam.echo_times_ms))
    sequence.SetAttribute(LATERALITY_ATTRIBUTE, exam.laterality)
    for key, attribute in PROVENANCE_ATTRIBUTES.items():
        if exam.metadata.get(key):
            sequence.SetAttribute(attribute, str(exam.metadata[key]))
    if exam.metadata.get("source_format") == "dicom" and exam.metadata.get("source"):
        sequence.SetAttribute(DICOM_FOLDER_ATTRIBUTE, str(exam.metadata["source"]))
    if exam.metadata.get("warnings"):
        sequence.SetAttribute(LOADER_WARNINGS_ATTRIBUTE, "\n".join(str(text) for text in exam.metadata["warnings"]))
    for echo_time, echo in zip(exam.echo_times_ms, exam.echoes):
        sequence.SetDataNodeAtValue(_echo_node(echo, exam.ijk_to_ras), "%.6g" % echo_time)
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", scene.GenerateUniqueName(name + " browser"))
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    browser.SetSelectedItemNumber(exam.echo_index_nearest(ANATOMY_TE_MS))
    module_logic("sequences").UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is not None:
        set_input_attribute(proxy, LATERALITY_ATTRIBUTE, exam.laterality)
        if proxy.GetDisplayNode() is None:
            proxy.CreateDefaultDisplayNodes()
    return sequence, browser, proxy


def _echo_node(echo: np.ndarray, ijk_to_ras: np.ndarray):
    node = slicer.vtkMRMLScalarVolumeNode()
    node.SetIJKToRASMatrix(matrix_to_vtk(ijk_to_ras))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(echo, dtype=np.float32))
    return node
