"""Vector-pixel images that hold colours or spatial vectors, told apart from echoes before they are fitted.

The echo-stack reader takes a 3D image with several components per voxel as
one component per echo (an ITK vector image, a Slicer sequence NRRD). But
SimpleITK reads an RGB or RGBA image -- a screenshot or a colour-coded map
saved as ``.nii.gz``, ``.mha`` or ``.nrrd`` -- as just such a vector image,
with 3 or 4 components per voxel; a displacement field from a registration
tool looks the same. Fitted, red, green and blue would give a T2 map without
a word. :func:`non_echo_pixels` names what such an image is:

* a NIfTI whose datatype is a colour (RGB24, RGBA32), or whose intent code
  says its vectors are colours, displacements, matrices or quaternions;
* any image of 3 or 4 components of 8-bit unsigned integers: the layout of
  colour images. MR magnitude echoes are stored with 12 to 16 bits (DICOM)
  or as floats, so no echo stack a scanner or converter writes looks like
  this; echoes that really are 8-bit can be given as a 4D scalar file
  (x, y, z, echo), which is never taken for colour.

``image`` is a SimpleITK image as ``sitk.ReadImage`` returns it (NIfTI header
fields in its metadata: ``datatype``, ``intent_code``).
"""

from __future__ import annotations

from typing import Optional

from .errors import InputError

SCREENSHOT = ", such as a screenshot or a colour-coded map saved as a volume"
# NIfTI-1 datatype codes (nifti1.h) of colour pixels
NIFTI_COLOUR_DATATYPES = {"128": "an RGB colour image (NIfTI datatype RGB24)" + SCREENSHOT,
                          "2304": "an RGBA colour image (NIfTI datatype RGBA32)" + SCREENSHOT}
# NIfTI-1 intent codes (nifti1.h) that say what a vector pixel holds when it is not echoes; ITK writes its own
# vector images, echo stacks included, with NIFTI_INTENT_VECTOR (1007), which is therefore not among them.
NIFTI_NON_ECHO_INTENTS = {"1004": "a matrix per voxel (NIfTI intent GENMATRIX)",
                          "1005": "a symmetric matrix (tensor) per voxel (NIfTI intent SYMMATRIX)",
                          "1006": "a displacement field (NIfTI intent DISPVECT), as a registration tool writes it",
                          "1010": "a quaternion per voxel (NIfTI intent QUATERNION)",
                          "2003": "an RGB colour image (NIfTI intent RGB_VECTOR)" + SCREENSHOT,
                          "2004": "an RGBA colour image (NIfTI intent RGBA_VECTOR)" + SCREENSHOT}
COLOUR_COMPONENTS = (3, 4)  # RGB, RGBA


def non_echo_pixels(image) -> Optional[str]:
    """What ``image`` is when its pixels are colours or spatial vectors, not echoes (for a message: "an RGB
    colour image (...)"); None for a scalar image or a vector image that may hold one echo per component."""
    import SimpleITK as sitk

    keys = set(image.GetMetaDataKeys())
    datatype = image.GetMetaData("datatype").strip() if "datatype" in keys else ""
    if datatype in NIFTI_COLOUR_DATATYPES:
        return NIFTI_COLOUR_DATATYPES[datatype]
    components = image.GetNumberOfComponentsPerPixel()
    if components < 2:
        return None
    intent = image.GetMetaData("intent_code").strip() if "intent_code" in keys else ""
    if intent in NIFTI_NON_ECHO_INTENTS:
        return NIFTI_NON_ECHO_INTENTS[intent]
    if components in COLOUR_COMPONENTS and image.GetPixelID() == sitk.sitkVectorUInt8:
        return ("an %s colour image (%d components of 8-bit unsigned integers per voxel)%s"
                % ("RGB" if components == 3 else "RGBA", components, SCREENSHOT))
    return None


def refuse_non_echo_pixels(image, path) -> None:
    """InputError when ``image``, read from ``path`` as echoes, holds colours or spatial vectors
    (:func:`non_echo_pixels`): saying what it is and what to give instead."""
    found = non_echo_pixels(image)
    if found is None:
        return
    raise InputError(
        "%s is %s: its %d components per voxel are no MR echoes. Give the magnitude echo images: the DICOM folder "
        "of the multi-echo (MESE) series, a 4D file (x, y, z, echo) of 16-bit or float pixels, or one 3D file per "
        "echo." % (path, found, image.GetNumberOfComponentsPerPixel()))
