"""Writing phantoms: one exam folder, or a whole training dataset of many cases.

One phantom folder holds::

    echoes.nrrd + echoes.json   the 4D echo stack (the input form every command accepts)
    label.nrrd                  femoral cartilage (1) on the MESE grid (fraction >= 0.5)
    tissues.nrrd                dominant tissue id per voxel (ids in phantom.json)
    t2_truth.nrrd               simulated T2 (ms) of the dominant tissue
    cartilage_fraction.nrrd     partial-volume fraction of femoral cartilage
    lesions.nrrd                lesion number per voxel (only when lesions were asked for)
    phantom.json                every parameter of the simulation
    dicom/                      optional MR DICOM series of the echoes

A dataset (``--cases N``) uses :mod:`dataset_format` (nnU-Net v2 layout and a
per-case index); the truth beyond the label goes to ``phantomTruth/`` beside it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .atomic_files import remove_path
from .dataset_index import atomic_write_json
from .errors import InputError
from .phantom import Phantom, PhantomOptions, simulate_phantom
from .phantom_anatomy import KneeAnatomy
from .phantom_protocols import MeseProtocol, get_protocol
from .progress import CancelToken, ProgressCallback, no_progress, scaled_progress
from .volume_io import write_volume

TRUTH_FOLDER = "phantomTruth"


def check_phantom_folder(directory) -> None:
    """Refuse a folder that holds an analysis of this tool: the phantom's label.nrrd would replace the analysis's
    own, and the folder would still read as that finished analysis."""
    from .pipeline import holds_analysis

    if holds_analysis(directory):
        raise InputError("%s holds a knee-t2 analysis (provenance.json, label.nrrd...): a phantom written there "
                         "would replace its label. Choose an empty or new folder for the phantom." % directory)


def write_phantom(phantom: Phantom, directory, dicom: bool = False) -> Path:
    """Write one phantom's files (see the module docstring) into ``directory``; returns it.

    An earlier phantom's ``phantom.json`` (written last) and the files this one may not rewrite
    (``lesions.nrrd``, ``dicom/``) are removed first, so an interrupted run never leaves the earlier
    phantom's parameters beside this one's images.
    """
    from .echo_stack_io import write_echo_stack

    directory = Path(directory)
    check_phantom_folder(directory)
    if (directory / "phantom.json").is_file():  # an earlier phantom's folder
        for stale in ("lesions.nrrd", "dicom", "phantom.json"):  # its parameters last
            remove_path(directory / stale)
    directory.mkdir(parents=True, exist_ok=True)
    exam = phantom.exam
    write_echo_stack(exam, directory / "echoes.nrrd")
    write_volume(exam.volume_like(phantom.label), directory / "label.nrrd")
    write_volume(exam.volume_like(phantom.tissues), directory / "tissues.nrrd")
    write_volume(exam.volume_like(phantom.t2_truth_ms), directory / "t2_truth.nrrd")
    write_volume(exam.volume_like(phantom.cartilage_fraction), directory / "cartilage_fraction.nrrd")
    if phantom.parameters.get("lesions"):
        write_volume(exam.volume_like(phantom.lesion_label), directory / "lesions.nrrd")
    if dicom:
        _write_dicom(phantom, directory / "dicom")
    atomic_write_json(directory / "phantom.json", phantom.parameters)
    return directory


def _write_dicom(phantom: Phantom, folder: Path) -> None:
    from .dicom_writer import write_dicom_series

    protocol = phantom.parameters["protocol"]
    write_dicom_series(
        phantom.exam, folder, patient_name="PHANTOM^KNEE", patient_id="KNEE-T2-PHANTOM-%d" % phantom.exam.metadata["seed"],
        series_description="Phantom MESE %s seed %d" % (protocol["name"], phantom.exam.metadata["seed"]),
        manufacturer="KneeCartilageT2 phantom", repetition_time_ms=float(protocol["tr_ms"]),
        slice_thickness_mm=float(protocol["slice_thickness_mm"]),
    )


def case_plan(cases: int, base_seed: int = 0, protocols: Sequence = ("oai", "ge"),
              lateralities: Sequence[str] = ("right", "left"), snr_range=(20.0, 80.0),
              max_lesions: int = 2, template: Optional[PhantomOptions] = None) -> List[PhantomOptions]:
    """Options for ``cases`` phantoms: seeds ``base_seed + n``, protocols and sides alternating,
    SNR and lesion count drawn from each case's seed (so a plan is reproducible)."""
    if cases < 1:
        raise InputError("--cases must be 1 or more.")
    for protocol in protocols:
        if not isinstance(protocol, MeseProtocol):
            get_protocol(protocol)
    template = template or PhantomOptions()
    plan = []
    for number in range(int(cases)):
        seed = int(base_seed) + number
        rng = np.random.default_rng([seed, 97])
        plan.append(replace(
            template, seed=seed, protocol=protocols[number % len(protocols)],
            laterality=lateralities[(number // len(protocols)) % len(lateralities)],
            snr=float(rng.uniform(*snr_range)), lesions=int(rng.integers(0, max_lesions + 1)),
        ))
    return plan


def write_phantom_dataset(anatomy: KneeAnatomy, dataset_dir, plan: Sequence[PhantomOptions],
                          case_prefix: str = "phantom", progress: Optional[ProgressCallback] = None,
                          cancel: Optional[CancelToken] = None,
                          log: Optional[Callable[[str], None]] = None) -> List[str]:
    """Simulate every case of ``plan`` and add it to a :mod:`dataset_format` dataset; returns case ids.

    Cases already present (same id) are skipped, so an interrupted run can be resumed.
    """
    from .dataset_format import create_dataset, list_cases, write_case

    report = progress or no_progress
    directory = Path(dataset_dir)
    channels = min(len(_protocol_of(options).echo_times_ms) for options in plan)
    create_dataset(directory, name="KneeT2Phantoms", description="Digital knee phantoms (knee-t2 phantom)",
                   n_channels=channels, case_prefix=case_prefix)
    done = {record.case_id for record in list_cases(directory)}
    anatomy_name = Path(anatomy.source).name
    case_ids = []
    for number, options in enumerate(plan):
        case_id = "%s_%s_%05d" % (case_prefix, _short_name(anatomy_name), options.seed)
        case_ids.append(case_id)
        if case_id in done:
            continue
        step = scaled_progress(report, number / len(plan), (number + 1) / len(plan))
        phantom = simulate_phantom(anatomy, options, step, cancel)
        extra = {"anatomy": anatomy_name, "seed": options.seed, "snr": options.snr, "lesions": options.lesions,
                 "generator": "knee-t2 phantom"}
        _write_truth(directory, case_id, phantom)
        write_case(directory, phantom.exam, phantom.label, case_id=case_id, source="phantom",
                   protocol=phantom.exam.metadata["protocol"], extra=extra)
        if log is not None:
            log("%s: %s %s seed %d, SNR %.0f, %d lesion(s)" % (case_id, phantom.exam.metadata["protocol"],
                                                               phantom.exam.laterality, options.seed, options.snr,
                                                               options.lesions))
    return case_ids


def _protocol_of(options: PhantomOptions) -> MeseProtocol:
    return options.protocol if isinstance(options.protocol, MeseProtocol) else get_protocol(options.protocol)


def _short_name(file_name: str) -> str:
    stem = file_name.split(".")[0]
    return "".join(character for character in stem if character.isalnum())[:12] or "anatomy"


def _write_truth(directory: Path, case_id: str, phantom: Phantom) -> None:
    folder = directory / TRUTH_FOLDER
    exam = phantom.exam
    write_volume(exam.volume_like(phantom.t2_truth_ms), folder / ("%s_t2.nii.gz" % case_id))
    write_volume(exam.volume_like(phantom.tissues), folder / ("%s_tissues.nii.gz" % case_id))
    atomic_write_json(folder / ("%s.json" % case_id), phantom.parameters)


def read_truth(dataset_dir, case_id: str) -> Dict[str, object]:
    """The simulated T2 map (Volume) and the phantom parameters of one dataset case."""
    from .volume_io import read_volume

    folder = Path(dataset_dir) / TRUTH_FOLDER
    path = folder / ("%s_t2.nii.gz" % case_id)
    if not path.is_file():
        raise InputError("No phantom truth for case %s in %s (not a phantom dataset?)." % (case_id, dataset_dir))
    return {"t2_truth": read_volume(path), "parameters": json.loads((folder / ("%s.json" % case_id)).read_text())}
