"""Slicer's translation function for the panel texts this package words (status lines, progress, tooltips).

Use it as the module file does, ``from .translation import tr as _``, and
translate the template before filling it in:
``_("Saved as case {case} (label version {version}).").format(...)``, so that
Slicer's translation tools find the literal text and a translator can move the
placeholders.

Inside Slicer, ``tr`` is ``slicer.i18n.tr`` itself, not a wrapper: it takes the
translation context from the file that calls it (``KneeCartilageT2SlicerLib.
panel_state`` for :mod:`.panel_state`), which is the context the extraction
tools give that file's texts. Where ``slicer.i18n`` is missing (slicer-core,
the headless tests: their harness may install a stand-in only after this
package was imported) the text is returned unchanged.
"""

from __future__ import annotations

try:
    from slicer.i18n import tr
except ImportError:  # slicer-core (headless tests): no application to translate with

    def tr(text: str) -> str:
        """The text unchanged (no Slicer application, no translations)."""
        return text

__all__ = ["tr"]
