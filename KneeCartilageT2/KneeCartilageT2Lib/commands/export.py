"""``knee-t2 export``: add a reader-approved cartilage label to a training dataset (issue #6)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional, Tuple

from ..errors import InputError
from ._common import add_exam_argument, check_output_folder, load_exam_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export an approved (corrected) femoral cartilage label into an nnU-Net-style training dataset",
        description="Store the exam's echoes and the approved label in DATASET (nnU-Net v2 layout with a "
        "per-case index). With --original (the model's label, or its analysis folder) the edit statistics "
        "are recorded and the model label is kept beside the approved one. Exporting the same exam again "
        "adds a new label version; earlier versions are kept. Exporting the label the case already holds "
        "(and the same original) changes nothing and says so.",
    )
    add_exam_argument(parser)
    parser.add_argument("--segmentation", required=True, metavar="SEG",
                        help="approved label map (NRRD/NIfTI; non-zero = femoral cartilage)")
    parser.add_argument("--dataset", required=True, metavar="DIR", help="dataset folder (created when absent)")
    parser.add_argument("--original", metavar="ORIG",
                        help="the model's unedited label, or the analysis folder holding label.nrrd and "
                        "provenance.json (the model's name and version are then read from it)")
    parser.add_argument("--reader", help="who approved the label (initials; not a patient identifier)")
    parser.add_argument("--model-name", help="model that produced the original label")
    parser.add_argument("--model-version", help="version of that model")
    parser.add_argument("--case-id", help="case id to use (default: the same exam's id, else the next free one)")
    parser.add_argument("--protocol", default="", help="protocol name stored in the case index")
    parser.add_argument("--channels", type=int, default=None,
                        help="echoes stored as nnU-Net channels, when the dataset is new (default: all echoes "
                        "of the first case)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..correction import export_corrected_case, label_on_exam_grid
    from ..dataset_format import create_dataset
    from ..export_checks import edit_agreement_warnings, original_exam_warnings
    from ..volume_io import read_label_volume

    check_output_folder(args.dataset)
    _refuse_dataset_inside_exam(Path(args.dataset), Path(args.input))
    exam = load_exam_from_args(args)
    approved = label_on_exam_grid(read_label_volume(args.segmentation, "approved label"), exam)
    original = None
    model_name, model_version = args.model_name, args.model_version
    warnings = []
    if args.original:
        original_path, found_name, found_version, original_exam_sha256 = _original_label_path(Path(args.original))
        original = label_on_exam_grid(read_label_volume(original_path, "original label"), exam)
        model_name = model_name or found_name
        model_version = model_version or found_version
        warnings += original_exam_warnings(exam, original_exam_sha256, args.original)
    create_dataset(args.dataset, n_channels=args.channels)
    record = export_corrected_case(args.dataset, exam, approved, original, reader=args.reader,
                                   model_name=model_name, model_version=model_version, case_id=args.case_id,
                                   protocol=args.protocol)
    version = record.current_label
    if not record.new_version_written:
        print("Case %s already holds this label as its current version %d: unchanged, no new version written "
              "-> %s" % (record.case_id, version.version, args.dataset))
        return 0
    print("Exported case %s, label version %d -> %s" % (record.case_id, version.version, args.dataset))
    edit = version.info.get("edit")
    if edit:
        print("Edits: Dice %.3f, %d voxels added, %d removed, volume change %+.1f mm^3 on %d slices"
              % (edit["dice"], edit["voxels_added"], edit["voxels_removed"], edit["volume_change_mm3"],
                 edit["slices_edited"]))
        warnings += edit_agreement_warnings(edit["dice"], edit["voxels_added"], edit["voxels_removed"])
    for warning in warnings:
        print("warning: %s" % warning, file=sys.stderr)
    return 0


def _refuse_dataset_inside_exam(dataset: Path, exam: Path) -> None:
    """Refuse a dataset folder that is the exam's folder or lies inside it: the dataset gathers every exported
    exam's images and the private case-id map, which would then travel with this one exam's folder."""
    if not exam.is_dir():
        return
    folder, inside = os.path.abspath(str(exam)), os.path.abspath(str(dataset))
    if inside == folder or inside.startswith(folder.rstrip(os.sep) + os.sep):
        raise InputError("The dataset folder %s is inside the exam folder %s: the dataset collects every exported "
                         "exam (and the private id map), so keep it outside any exam's folder." % (dataset, exam))


def _original_label_path(path: Path) -> Tuple[Path, Optional[str], Optional[str], Optional[str]]:
    """(label file, model name, model version, hash of the analysed exam's images) from a label file or an
    analysis folder (None where a label file is given or the folder does not record them)."""
    from ..pipeline import refuse_unfinished

    if path.is_file():
        return path, None, None, None
    if not path.is_dir():
        raise InputError("--original %s does not exist; give the model's label file or its analysis folder." % path)
    label = path / "label.nrrd"
    if not label.is_file():
        raise InputError("%s holds no label.nrrd; give the model's label file itself." % path)
    refuse_unfinished(path)
    name = version = exam_sha256 = None
    provenance = path / "provenance.json"
    if provenance.is_file():
        try:
            record = json.loads(provenance.read_text(encoding="utf-8"))
        except ValueError:
            record = None
        segmentation = (record.get("segmentation") or {}) if isinstance(record, dict) else None
        if not isinstance(segmentation, dict):  # not JSON, not an object, or a "segmentation" that is no record
            raise InputError("%s is not a knee-t2 provenance file; give the model's label file with --original "
                             "and its name with --model-name." % provenance)
        name, version = _text(segmentation.get("model_name")), _text(segmentation.get("model_version"))
        exam_sha256 = _text(record.get("source_sha256"))
    return label, name, version, exam_sha256


def _text(value) -> Optional[str]:
    """A provenance field that should be text: None for anything else (a hand-edited or foreign file)."""
    return value if isinstance(value, str) and value else None
