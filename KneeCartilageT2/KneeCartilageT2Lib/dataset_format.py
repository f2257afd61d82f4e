"""The training dataset: nnU-Net-v2-compatible folders plus a per-case index.

One format is shared by the phantom writer, the trainer and the correction
export (issue #6). Layout of a dataset folder ``DIR``::

    DIR/dataset.json                   nnU-Net v2 description (+ our "knee_t2" block)
    DIR/imagesTr/<case>_0000.nii.gz    echo 1 of a labelled case, ... _000C-1 (C channels)
    DIR/labelsTr/<case>.nii.gz         the current approved label (uint8: 0 background, 1 femoral cartilage)
    DIR/imagesUnlabelled/<case>_0000.nii.gz   same channels for cases without an approved label
    DIR/imagesExtra/<case>_000C.nii.gz echoes beyond the C channels (nnU-Net ignores this folder)
    DIR/labelsOriginal/<case>.nii.gz   the model's unedited label behind the current approved one
    DIR/labelsVersions/<case>_v1.nii.gz, _v2 ...   every approved label ever (immutable),
                                       with _vN_original.nii.gz for the model output it corrected
                                       (written once: a later version corrected from the same model
                                       output names the earlier file in its ``original_file``)
    DIR/cases/<case>.json              the case index (:class:`dataset_index.CaseRecord`)
    DIR/drafts/<case>.nrrd             a reader's unfinished correction (:mod:`dataset_drafts`; never trained on),
                                       beside older ones set aside (<case>.superseded-<time>.nrrd)
    DIR/.private/id_map.json           case id -> source identifiers (mode 0600; never share it)

nnU-Net v2 reads ``dataset.json``, ``imagesTr`` and ``labelsTr`` and ignores
the other folders. For nnU-Net the folder must be named
``nnUNet_raw/DatasetXXX_Name``.

Echo counts and echo times differ between protocols, but nnU-Net needs the
same channels for every case. A dataset therefore stores a fixed number C of
echoes as channels (chosen at :func:`create_dataset`, or by the first case):
channel c is echo c+1 of each case, whatever its TE, and the echo times of
every case stay in its index. Echoes beyond C are kept in ``imagesExtra`` so
that :func:`read_case` returns the whole exam; an exam with fewer than C
echoes is refused. ``dataset.json`` names channel c ``echo_<c+1> (TE a-b ms)``
with the TE range over the dataset, so a reader sees when "echo 2" means
different TEs on different protocols. (The network of this project uses one
echo near TE 20 ms; nnU-Net users with mixed protocols pick C = the smallest
echo count, or resample echoes to common TEs before export.)

Writes are atomic and ordered so that the dataset is readable at every
moment: images and label files first, the index last (the commit point),
derived copies (``labelsTr``, ``labelsOriginal``, moving images from
``imagesUnlabelled`` to ``imagesTr``) and ``dataset.json`` after it. A crash
leaves at worst unindexed files, which readers ignore and
:func:`repair_dataset` removes or completes. One writer at a time per
dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import __version__
from .atomic_files import atomic_copy
from .dataset_index import (DATASET_JSON, FILE_ENDING, CaseRecord, LabelVersion,
                            array_sha256, atomic_write_json, load_settings, next_sequential_id, path_inside,
                            read_json, safe_case_id, utc_now_iso, write_dataset_json)
from .dataset_privacy import (find_case_by_identity, find_identifying_text, identity_key, load_id_map,
                              remember_case, save_id_map)
from .errors import InputError
from .exam import MeseExam, validate_exam
from .geometry import Volume
from .grid_order import reorder_onto
from .volume_io import read_volume, write_volume

PathLike = Union[str, "os.PathLike[str]"]
IMAGES_TR, IMAGES_UNLABELLED, IMAGES_EXTRA = "imagesTr", "imagesUnlabelled", "imagesExtra"
LABELS_TR, LABELS_ORIGINAL, LABELS_VERSIONS, CASES = "labelsTr", "labelsOriginal", "labelsVersions", "cases"


def create_dataset(dataset_dir: PathLike, name: str = "KneeCartilageT2", description: str = "",
                   n_channels: Optional[int] = None, case_prefix: str = "knee") -> Path:
    """Create (or open) a dataset folder and write its ``dataset.json``.

    ``n_channels`` fixes how many echoes each case stores as nnU-Net channels;
    None lets the first case written decide. Opening an existing dataset keeps
    its settings; asking for a different channel count is an error.
    """
    directory = Path(dataset_dir)
    directory.mkdir(parents=True, exist_ok=True)
    settings = load_settings(directory)
    if settings is not None:
        if n_channels is not None and settings.get("channels") not in (None, int(n_channels)):
            raise InputError(
                "Dataset %s already stores %s echoes per case; it cannot change to %d. "
                "Export into a new dataset folder." % (directory, settings["channels"], n_channels)
            )
    else:
        if n_channels is not None and int(n_channels) < 1:
            raise InputError("n_channels must be 1 or more, got %r." % n_channels)
        settings = {"name": name, "description": description, "case_prefix": safe_case_id(case_prefix),
                    "channels": None if n_channels is None else int(n_channels)}
    if settings.get("channels") is None and n_channels is not None:
        settings["channels"] = int(n_channels)
    for folder in (CASES, IMAGES_TR, LABELS_TR):
        (directory / folder).mkdir(exist_ok=True)
    write_dataset_json(directory, settings, list_cases(directory))
    return directory


def write_case(dataset_dir: PathLike, exam: MeseExam, label: Optional[Union[np.ndarray, Volume]],
               case_id: Optional[str] = None, source: str = "unknown", protocol: str = "",
               original_label: Optional[Union[np.ndarray, Volume]] = None, reader: Optional[str] = None,
               model: Optional[Union[str, Tuple[str, str], Dict[str, str]]] = None,
               extra: Optional[Dict[str, Any]] = None,
               label_info: Optional[Dict[str, Any]] = None) -> CaseRecord:
    """Add a case, or a new approved label version of an existing case.

    ``label`` is the approved cartilage mask (slice, row, col) on the exam's
    grid, or None for an unlabelled case. ``original_label`` is the model's
    unedited mask it was corrected from; ``model`` names that model as
    ``"name"``, ``(name, version)`` or ``{"name":..., "version":...}``.
    ``case_id`` None reuses the id of the same exam (matched through the
    private id map, else by identical echo images) or allocates the next
    ``<prefix>_NNN``. A second write of a case must bring the same echo
    images; a different approved label adds a version (earlier ones stay on
    disk), an identical one changes nothing: the record returned says which
    (``new_version_written``). ``label_info`` is stored with
    the new version (e.g. edit statistics). Raises InputError, before writing
    anything, when an identifying metadata value (patient name or id, dates,
    UIDs, the source path) would reach the index.
    """
    directory = Path(dataset_dir)
    settings = load_settings(directory)
    if settings is None:
        create_dataset(directory)
        settings = load_settings(directory)
    validate_exam(exam)
    model_name, model_version = _model_name_version(model)
    _refuse_identifying_text([source, protocol, reader, model_name, model_version, extra, label_info], exam)
    label_array = None if label is None else _label_array(label, exam, "label")
    original_array = None if original_label is None else _label_array(original_label, exam, "original_label")
    channels = settings.get("channels") or exam.n_echoes
    if exam.n_echoes < channels:
        raise InputError(
            "This dataset stores %d echoes per case as nnU-Net channels but the exam has %d. "
            "Export it into a dataset created with n_channels=%d or fewer." % (channels, exam.n_echoes, exam.n_echoes)
        )
    if settings.get("channels") is None:
        settings["channels"] = channels
        write_dataset_json(directory, settings, list_cases(directory))

    id_map = load_id_map(directory)
    image_hash = array_sha256(exam.echoes, exam.echo_times_ms)
    resolved_id = _resolve_case_id(directory, settings, id_map, exam, case_id, image_hash)
    record = _existing_record(directory, resolved_id)
    if record is not None and record.image_sha256 != image_hash:  # the same exam with its slices listed otherwise?
        moved = _onto_case_grid(directory, record, exam, label_array, original_array)
        if moved is not None:
            exam, label_array, original_array = moved
            image_hash = record.image_sha256
    now = utc_now_iso()
    if record is None:
        record = CaseRecord(
            case_id=resolved_id, source=str(source), protocol=str(protocol),
            echo_times_ms=[float(t) for t in exam.echo_times_ms], laterality=exam.laterality,
            shape_kji=list(exam.volume_shape), spacing_ijk_mm=[float(s) for s in exam.spacing_ijk],
            n_channels=int(channels), image_sha256=image_hash, created=now, tool_version=__version__,
            model_name=model_name, model_version=model_version, reader=reader, extra=dict(extra or {}),
        )
        _refuse_identifying_text(record.to_json_dict(), exam)
        remember_case(id_map, resolved_id, exam.metadata)
        save_id_map(directory, id_map)
        _write_images(directory, record, exam)
    elif record.image_sha256 != image_hash:
        raise InputError(
            "Case %s already holds different echo images; a case keeps its exam. Give another case_id "
            "for a different exam." % resolved_id
        )
    elif extra:
        record.extra.update(extra)

    version = None
    if label_array is not None:
        version = _new_label_version(directory, record, exam, label_array, original_array, reader,
                                     model_name, model_version, now, label_info or {})
        if version is not None:
            record.label_versions.append(version)
            if record.reader is None:
                record.reader = reader
    atomic_write_json(directory / CASES / (resolved_id + ".json"), record.to_json_dict())
    _publish_case(directory, record)
    update_dataset_json(directory)
    record.new_version_written = version is not None
    return record


def list_cases(dataset_dir: PathLike) -> List[CaseRecord]:
    """Every committed case (those with an index file), sorted by case id."""
    folder = Path(dataset_dir) / CASES
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        records.append(CaseRecord.from_json_dict(read_json(path)))
    return records


def read_case(dataset_dir: PathLike, case_id: str) -> Tuple[MeseExam, Optional[Volume], CaseRecord]:
    """The exam (all echoes), the current approved label (uint8 Volume, or None) and the record."""
    directory = Path(dataset_dir)
    record = _existing_record(directory, safe_case_id(case_id))
    if record is None:
        raise InputError("No case %r in dataset %s; list_cases() shows the cases." % (case_id, directory))
    volumes = [read_volume(_image_path(directory, record, echo)) for echo in range(record.n_echoes)]
    echoes = np.stack([volume.array for volume in volumes]).astype(np.float32)
    exam = MeseExam(echoes, np.asarray(record.echo_times_ms), volumes[0].ijk_to_ras, record.laterality,
                    {"case_id": record.case_id, "source": record.source, "protocol": record.protocol})
    label = None
    if record.current_label is not None:
        label = read_label_version(directory, record.current_label)
    return exam, label, record


def read_label_version(dataset_dir: PathLike, version: LabelVersion, original: bool = False) -> Volume:
    """Read one approved label version (or, with ``original``, the model label behind it) as uint8."""
    relative = version.original_file if original else version.file
    if relative is None:
        raise InputError("Label version %d has no original model label stored." % version.version)
    volume = read_volume(path_inside(Path(dataset_dir), relative))
    return volume.with_array(volume.array.astype(np.uint8))


def require_dataset(dataset_dir: Optional[PathLike]) -> Path:
    """The dataset folder as a Path; :class:`InputError` when none is set or it holds no dataset.json.

    For the actions that read an existing dataset (next case, fine-tuning): an unset or mistyped
    folder must not read as "a dataset with no cases".
    """
    if dataset_dir is None or not str(dataset_dir).strip():
        raise InputError("No dataset folder is set: choose the training dataset folder (the one 'Accept & export' "
                         "writes into) first.")
    directory = Path(dataset_dir)
    if not (directory / DATASET_JSON).is_file():
        raise InputError("%s is not a training dataset (no dataset.json). Choose the folder 'Accept & export' or "
                         "`knee-t2 export` wrote into, or export a corrected case there first." % directory)
    return directory


def update_dataset_json(dataset_dir: PathLike) -> Path:
    """Rewrite ``dataset.json`` from the committed cases (counts, channel names with TE ranges)."""
    directory = Path(dataset_dir)
    settings = load_settings(directory)
    if settings is None:
        raise InputError("%s is not a dataset folder (no dataset.json); call create_dataset first." % directory)
    write_dataset_json(directory, settings, list_cases(directory))
    return directory / DATASET_JSON


def repair_dataset(dataset_dir: PathLike) -> Dict[str, List[str]]:
    """Finish or undo interrupted writes: remove unindexed files, redo derived copies, rewrite dataset.json.

    Returns ``{"removed": [...], "published": [...]}`` (paths relative to the dataset).
    """
    directory = Path(dataset_dir)
    records = list_cases(directory)
    for record in records:
        _publish_case(directory, record)
    removed = _remove_unindexed_files(directory, records)
    id_map = load_id_map(directory)
    indexed = {record.case_id for record in records}
    if any(case_id not in indexed for case_id in id_map["cases"]):
        id_map["cases"] = {key: value for key, value in id_map["cases"].items() if key in indexed}
        save_id_map(directory, id_map)
    update_dataset_json(directory)
    return {"removed": removed, "published": [record.case_id for record in records]}


# --- helpers -----------------------------------------------------------------------------------

def _label_array(label: Union[np.ndarray, Volume], exam: MeseExam, what: str) -> np.ndarray:
    if isinstance(label, Volume):
        if not np.allclose(label.ijk_to_ras, exam.ijk_to_ras, atol=1e-3):
            raise InputError("The %s lies on another grid than the exam; resample it onto the exam first." % what)
        label = label.array
    array = np.asarray(label)
    if tuple(array.shape) != tuple(exam.volume_shape):
        raise InputError("The %s has shape %s but the exam's volume is %s (slice, row, col)."
                         % (what, array.shape, exam.volume_shape))
    values = np.unique(array)
    if not set(values.tolist()) <= {0, 1}:
        raise InputError("The %s holds values %s; a femoral cartilage label holds only 0 and 1."
                         % (what, values[:10].tolist()))
    return array.astype(np.uint8)


def _resolve_case_id(directory: Path, settings: Dict[str, Any], id_map: Dict[str, Any], exam: MeseExam,
                     case_id: Optional[str], image_hash: str) -> str:
    """The given id made safe; else the id of the same exam (private map, then image hash); else the next."""
    if case_id is not None:
        return safe_case_id(case_id)
    known = find_case_by_identity(id_map, identity_key(exam.metadata))
    if known is not None:
        return known
    records = list_cases(directory)
    for record in records:
        if record.image_sha256 == image_hash:
            return record.case_id
    if records:  # Slicer lists a left-handed exam's slices in reverse: the same exam, found by that order too
        reversed_hash = array_sha256(np.ascontiguousarray(exam.echoes[:, ::-1]), exam.echo_times_ms)
        for record in records:
            if record.image_sha256 == reversed_hash:
                return record.case_id
    taken = set(id_map["cases"]) | {path.stem for path in (directory / CASES).glob("*.json")}
    return next_sequential_id(settings.get("case_prefix") or "knee", taken)


def _onto_case_grid(directory: Path, record: CaseRecord, exam: MeseExam, label_array, original_array):
    """``(exam, label, original)`` re-indexed onto the case's stored grid when they are its voxels listed in
    another order (reversed slices, swapped axes); None when the exam is another one."""
    grid = read_volume(_image_path(directory, record, 0)).ijk_to_ras
    echoes = reorder_onto(exam.echoes, exam.ijk_to_ras, grid, record.shape_kji)
    if echoes is None or array_sha256(echoes, exam.echo_times_ms) != record.image_sha256:
        return None
    labels = [None if array is None else reorder_onto(array, exam.ijk_to_ras, grid, record.shape_kji)
              for array in (label_array, original_array)]
    moved = MeseExam(echoes, exam.echo_times_ms, grid, exam.laterality, dict(exam.metadata))
    return moved, labels[0], labels[1]


def _existing_record(directory: Path, case_id: str) -> Optional[CaseRecord]:
    path = path_inside(directory, "%s/%s.json" % (CASES, case_id))
    return CaseRecord.from_json_dict(read_json(path)) if path.is_file() else None


def _model_name_version(model) -> Tuple[Optional[str], Optional[str]]:
    if model is None:
        return None, None
    if isinstance(model, dict):
        return model.get("name"), model.get("version")
    if isinstance(model, (tuple, list)):
        return (str(model[0]) if model else None), (str(model[1]) if len(model) > 1 else None)
    return str(model), None


def _refuse_identifying_text(content: Any, exam: MeseExam) -> None:
    """Raise when text bound for the index holds an identifying value of the exam's header."""
    found = find_identifying_text(json.dumps(content, default=str), exam.metadata)
    if found:
        raise InputError(
            "The case index would contain identifying text from the exam's header (%s). Give a "
            "non-identifying source/protocol/reader/extra; identifiers belong only in .private/id_map.json."
            % ", ".join(repr(value) for value in found[:3])
        )


def _image_path(directory: Path, record: CaseRecord, echo: int) -> Path:
    name = "%s_%04d%s" % (record.case_id, echo, FILE_ENDING)
    if echo >= record.n_channels:
        return path_inside(directory, "%s/%s" % (IMAGES_EXTRA, name))
    published = path_inside(directory, "%s/%s" % (IMAGES_TR, name))
    staged = path_inside(directory, "%s/%s" % (IMAGES_UNLABELLED, name))
    if record.is_labelled:
        return published if published.is_file() else staged
    return staged if staged.is_file() else published


def _write_images(directory: Path, record: CaseRecord, exam: MeseExam) -> None:
    """Write every echo; channels go to imagesUnlabelled until a label is committed."""
    for echo in range(exam.n_echoes):
        folder = IMAGES_EXTRA if echo >= record.n_channels else IMAGES_UNLABELLED
        path = path_inside(directory, "%s/%s_%04d%s" % (folder, record.case_id, echo, FILE_ENDING))
        write_volume(exam.echo_volume(echo), path)


def _new_label_version(directory, record, exam, label_array, original_array, reader, model_name,
                       model_version, now, info) -> Optional[LabelVersion]:
    label_hash = array_sha256(label_array)
    original_hash = None if original_array is None else array_sha256(original_array)
    current = record.current_label
    if current is not None and current.sha256 == label_hash and original_hash in (None, current.original_sha256):
        return None
    number = (current.version if current else 0) + 1
    stem = "%s/%s_v%d" % (LABELS_VERSIONS, record.case_id, number)
    write_volume(exam.volume_like(label_array), path_inside(directory, stem + FILE_ENDING))
    original_file = None
    if original_array is not None:
        original_file = _stored_original(directory, record, original_hash)
        if original_file is None:
            original_file = stem + "_original" + FILE_ENDING
            write_volume(exam.volume_like(original_array), path_inside(directory, original_file))
    elif current is not None and current.original_file:
        original_file, original_hash = current.original_file, current.original_sha256
    return LabelVersion(version=number, file=stem + FILE_ENDING, sha256=label_hash, created=now, reader=reader,
                        model_name=model_name, model_version=model_version, original_file=original_file,
                        original_sha256=original_hash, info=dict(info))


def _stored_original(directory: Path, record: CaseRecord, original_hash: str) -> Optional[str]:
    """The file of the newest earlier version whose model label is this one (same voxels), when it is on disk.

    A reader who corrects the same model output again (a second pass over a case) gives the same original:
    the new version refers to the file stored then instead of writing an identical ``_vN_original`` beside it.
    """
    for version in reversed(record.label_versions):
        if version.original_file and version.original_sha256 == original_hash \
                and path_inside(directory, version.original_file).is_file():
            return version.original_file
    return None


def _publish_case(directory: Path, record: CaseRecord) -> None:
    """Make the nnU-Net view match the index: labelsTr/labelsOriginal copies, images in imagesTr."""
    current = record.current_label
    if current is None:
        return
    atomic_copy(path_inside(directory, current.file),
                 path_inside(directory, "%s/%s%s" % (LABELS_TR, record.case_id, FILE_ENDING)))
    original_copy = path_inside(directory, "%s/%s%s" % (LABELS_ORIGINAL, record.case_id, FILE_ENDING))
    if current.original_file:
        atomic_copy(path_inside(directory, current.original_file), original_copy)
    elif original_copy.exists():
        original_copy.unlink()
    for echo in range(min(record.n_channels, record.n_echoes)):
        name = "%s_%04d%s" % (record.case_id, echo, FILE_ENDING)
        staged = path_inside(directory, "%s/%s" % (IMAGES_UNLABELLED, name))
        if staged.is_file():
            target = path_inside(directory, "%s/%s" % (IMAGES_TR, name))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)


def _remove_unindexed_files(directory: Path, records: List[CaseRecord]) -> List[str]:
    """Delete image/label files no index entry accounts for (left by interrupted writes)."""
    expected = set()
    for record in records:
        for echo in range(record.n_echoes):
            expected.add(_image_path(directory, record, echo))
        for version in record.label_versions:
            expected.add(path_inside(directory, version.file))
            if version.original_file:
                expected.add(path_inside(directory, version.original_file))
        if record.is_labelled:
            expected.add(path_inside(directory, "%s/%s%s" % (LABELS_TR, record.case_id, FILE_ENDING)))
            if record.current_label.original_file:
                expected.add(path_inside(directory, "%s/%s%s" % (LABELS_ORIGINAL, record.case_id, FILE_ENDING)))
    removed = []
    for folder in (IMAGES_TR, IMAGES_UNLABELLED, IMAGES_EXTRA, LABELS_TR, LABELS_ORIGINAL, LABELS_VERSIONS, CASES):
        for path in sorted((directory / folder).glob("*")) if (directory / folder).is_dir() else []:
            if folder == CASES and not path.name.startswith("."):
                continue
            if path.is_file() and path.resolve() not in expected:
                path.unlink()
                removed.append("%s/%s" % (folder, path.name))
    return removed
