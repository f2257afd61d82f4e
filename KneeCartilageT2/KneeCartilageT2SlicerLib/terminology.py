"""Standard terminology for the femoral cartilage segment (DICOM / SNOMED CT codes).

Slicer's own terminology lists (``SegmentationCategoryTypeModifier-
SlicerGeneralAnatomy`` and ``AnatomicRegionAndModifier-DICOM-Master``) have no
single code for "femoral cartilage"; the standard way to say it is a tissue
*type* located in an anatomic *region*:

* category Tissue (SCT 85756007),
* type Cartilage (SCT 309312004, recommended display colour 111, 184, 210),
* anatomic region Femur (SCT 71341001), modifier Right (SCT 24028007) or
  Left (SCT 7771000) when the knee side is known.

Every code is taken from those two Slicer lists, so Slicer's terminology
selector recognises the segment and a DICOM SEG export carries the codes.
The serialized form is Slicer's: ``context~category~type~typeModifier~
anatomicContext~region~regionModifier``, each code ``scheme^value^meaning``.
"""

from __future__ import annotations

from typing import Optional, Tuple

TYPE_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
TISSUE = ("SCT", "85756007", "Tissue")
CARTILAGE = ("SCT", "309312004", "Cartilage")
FEMUR = ("SCT", "71341001", "Femur")
SIDE_MODIFIERS = {"right": ("SCT", "24028007", "Right"), "left": ("SCT", "7771000", "Left")}
CARTILAGE_COLOR_RGB = (111 / 255.0, 184 / 255.0, 210 / 255.0)
NO_CODE = ("", "", "")


def _code(triple: Tuple[str, str, str]) -> str:
    return "^".join(triple)


def femoral_cartilage_entry(laterality: Optional[str] = None) -> str:
    """Serialized terminology entry of femoral cartilage, with the side when it is 'right' or 'left'."""
    side = SIDE_MODIFIERS.get((laterality or "").lower(), NO_CODE)
    return "~".join(
        [TYPE_CONTEXT, _code(TISSUE), _code(CARTILAGE), _code(NO_CODE), ANATOMIC_CONTEXT, _code(FEMUR), _code(side)]
    )


def set_segment_terminology(segment, entry: str) -> None:
    """Store the entry in the segment's terminology tag (works on every Slicer 5 version)."""
    segment.SetTag(segment.GetTerminologyEntryTagName(), entry)


def segment_terminology(segment) -> str:
    import vtk

    value = vtk.reference("")
    return str(value) if segment.GetTag(segment.GetTerminologyEntryTagName(), value) else ""
