"""What the Model section shows: each model with version, availability and licence; cache actions.

Thin wrappers over :mod:`KneeCartilageT2Lib.model_registry` that return plain
data for the panel (no Qt), so that the widget only fills a combo box. The
entries' words are marked for Slicer's translation (``_``); a model's name,
version, description and licence are shown as the registry gives them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from .translation import tr as _


@dataclass
class ModelChoice:
    """One entry of the model combo box; ``reference`` is what the analysis is asked to load.

    ``reference`` is the bare name when only one version of that name is
    installed, else ``name@version`` (fine-tuned models have several), so that
    choosing an older version really loads that version.
    """

    name: str
    version: str
    available: bool
    licence: str
    description: str
    reference: str = ""

    @property
    def label(self) -> str:
        where = _("ready") if self.available else _("downloaded on first use")
        return _("{name} v{version} ({where})").format(name=self.name, version=self.version, where=where)

    @property
    def tooltip(self) -> str:
        return _("{description}\nLicence: {licence}").format(description=self.description,
                                                             licence=self.licence or _("not stated"))


def model_choices() -> List[ModelChoice]:
    """Registry and imported models, the default first."""
    from KneeCartilageT2Lib.model_registry import default_model_name, list_models, registry_entries

    entries = registry_entries()
    infos = list_models()
    versions_of = Counter(info.name for info in infos)
    choices = [ModelChoice(info.name, info.version, info.available, str(entries.get(info.name, {}).get("licence", "")),
                           info.description,
                           info.name if versions_of[info.name] == 1 else "%s@%s" % (info.name, info.version))
               for info in infos]
    default = default_model_name() if choices else None
    return sorted(choices, key=lambda choice: choice.name != default)


def import_weights(path, name: Optional[str] = None) -> Path:
    """Copy a weights file (Keras .h5 or self-describing .safetensors) into the model cache (offline use)."""
    from KneeCartilageT2Lib.model_registry import import_weights_file

    return import_weights_file(path, name or None)


def cache_folder() -> Path:
    from KneeCartilageT2Lib.model_registry import cache_dir

    return cache_dir(create=True)


def clear_cache() -> int:
    """Delete the downloaded weights of the listed models (fine-tuned and imported ones stay); how many files."""
    from KneeCartilageT2Lib.model_registry import clear_cache as clear

    return clear()
