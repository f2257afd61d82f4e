"""Philips' private floating-point scaling of MR pixel values.

Philips MR images carry two scalings. The standard RescaleSlope (RS) and
RescaleIntercept (RI) turn a stored value SV into the *displayed* value
DV = SV x RS + RI; RS may differ between the images of one series.
The private MR Scale Slope SS, (2005,xx0E) in the "Philips MR Imaging DD 001"
block (FL), gives the value proportional to the acquired signal, the
*floating-point* value

    FP = DV / (RS x SS)

(Chenevert et al., Transl Oncol 2014; the same rule as dcm2niix's default
"Philips precise float" scaling). When RS x SS is the same for every image of
a series, DV and FP differ by one factor and T2 is the same either way; when it
changes between echoes, only FP keeps the echo ratios, hence T2, right.

The value is found in the image's own dataset (classic single-frame files)
or, for a frame of an enhanced object, in its per-frame functional groups item
(Philips nests it in a private sequence, (2005,140F)) and then the shared
one. It is read only when Manufacturer names Philips, so another vendor's
private group 2005 is never misread.
"""

from __future__ import annotations

import math
import struct
from typing import Optional

PHILIPS_MR_CREATOR = "Philips MR Imaging DD 001"
SCALE_SLOPE_ELEMENT = 0x0E  # (2005,xx0E) MR Scale Slope, FL
_NESTING_DEPTH = 3  # private sequences searched inside a dataset (enhanced frames nest one or two deep)


def is_philips(dataset) -> bool:
    """True when the dataset's Manufacturer names Philips."""
    return "philips" in str(dataset.get("Manufacturer", "") or "").lower()


def scale_slope(dataset, nested: bool = True) -> Optional[float]:
    """The MR Scale Slope of ``dataset`` (None when absent, unreadable or not a finite positive number).

    ``nested``: also look inside its private sequences (an enhanced frame's
    functional groups item); a top-level dataset is read with ``nested=False``.
    """
    if dataset is None:
        return None
    return _search(dataset, _NESTING_DEPTH if nested else 0)


def _search(dataset, depth: int) -> Optional[float]:
    value = _own_scale_slope(dataset)
    if value is not None or depth <= 0:
        return value
    for element in dataset:
        if element.VR == "SQ" and element.tag.is_private:
            for item in element.value:
                value = _search(item, depth - 1)
                if value is not None:
                    return value
    return None


def _own_scale_slope(dataset) -> Optional[float]:
    try:
        value = dataset.private_block(0x2005, PHILIPS_MR_CREATOR)[SCALE_SLOPE_ELEMENT].value
    except (KeyError, ValueError, TypeError):
        return None
    number = _as_float(value)
    return number if number is not None and 0 < number < math.inf else None


def _as_float(value) -> Optional[float]:
    """FL as pydicom gives it: a float, a multi-value, or 4 raw little-endian bytes when read as UN."""
    try:
        if isinstance(value, (bytes, bytearray)):
            return float(struct.unpack("<f", bytes(value[:4]))[0]) if len(value) >= 4 else None
        if not isinstance(value, str) and hasattr(value, "__len__"):
            value = value[0] if len(value) else None
        return None if value is None else float(value)
    except (TypeError, ValueError, struct.error):
        return None


def displayed_scale_problem(paths) -> Optional[str]:
    """Why the *displayed* values of these DICOM files would give a wrong T2, or None.

    For images another program loaded with RescaleSlope/Intercept only (as
    Slicer's DICOM module does): when they are Philips images whose
    RescaleSlope x MR Scale Slope differs between images, the echoes are on
    different scales. Headers only are read; unreadable files, other vendors
    and images without the private scale give None.
    """
    import pydicom

    factors = set()
    for path in paths:
        try:
            dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - a file we cannot read cannot tell us anything
            continue
        if not is_philips(dataset):
            return None
        private = scale_slope(dataset, nested=False)
        if private is None:
            continue
        try:
            rescale = float(dataset.get("RescaleSlope", 1.0) or 1.0)
        except (TypeError, ValueError):
            continue
        factors.add(float("%.6g" % (rescale * private)))
    if len(factors) < 2:
        return None
    return ("This Philips series was loaded with its displayed values (RescaleSlope only), but its images carry "
            "different scale factors (RescaleSlope x private MR Scale Slope from %.4g to %.4g), so the echo ratios "
            "and T2 would be wrong. Load the DICOM folder with 'Load MESE folder...' (or knee-t2 on the folder), "
            "which applies Philips' floating-point scaling." % (min(factors), max(factors)))
