"""``knee-t2 next-case``: which case should a reader correct next? The one the model is least sure of.

SOURCE is one of (detected automatically, or chosen with --kind):

* a training dataset folder: its cases without an approved label (added by
  the Slicer module; `knee-t2 export` and `knee-t2 phantom --cases` write
  labelled cases only), each segmented by the model;
* a folder of analysis results (a batch's output folder, or its scans/): every
  sub-folder holding a saved probabilities.nrrd is scored as it is, no model is run
  (a scan the batch marked failed, with FAILED.json, and an analysis that did not
  finish, without DONE.json, are left out and named);
* a folder of exams (DICOM sub-folders or 4D NRRD/NIfTI files), each
  segmented by the model.

Cases are ranked least certain first by the chosen measure (printed with its
definition); the first is the proposal. A case that cannot be scored is
listed last with the reason; when no case could be scored the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._analysis_options import add_device_argument, add_model_argument
from ._common import ProgressPrinter

KINDS = ("auto", "dataset", "analyses", "exams")
MEASURE_DEFINITIONS = {
    "entropy": "mean binary entropy H = -p log2(p) - (1-p) log2(1-p), in bits, over the candidate voxels (network "
               "cartilage probability p > {threshold:g}); 0 = every candidate is certain (p near 0 or 1), 1 = every "
               "candidate is at p = 0.5.",
    "ambiguous_fraction": "fraction of the candidate voxels (network cartilage probability p > {threshold:g}) whose "
                          "probability is ambiguous, 0.2 < p < 0.8; 0 = none, 1 = all.",
}
NO_CANDIDATES_NOTE = "A case without candidate voxels scores 0 (the model sees no cartilage there)."


def register(subparsers) -> None:
    from ..correction import CANDIDATE_THRESHOLD, MEASURES

    parser = subparsers.add_parser("next-case", help="rank cases by model uncertainty: which to correct next",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE",
                        help="dataset folder, folder of analysis results, or folder of exams")
    add_model_argument(parser, " scoring the cases")
    parser.add_argument("--measure", choices=MEASURES, default="entropy", help="uncertainty measure (default entropy)")
    parser.add_argument("--kind", choices=KINDS, default="auto", help="what SOURCE is (default: detect)")
    add_device_argument(parser, " scoring the cases")
    parser.add_argument("--candidate-threshold", type=probability_threshold, default=CANDIDATE_THRESHOLD,
                        metavar="P", help="probability above which a voxel is a candidate, between 0 and 1 "
                        "(default %(default)s)")
    parser.add_argument("--top", type=case_count, default=None, metavar="N",
                        help="list only the N least certain cases (N >= 1)")
    parser.add_argument("--json", action="store_true", help="print the ranking as JSON instead of a table")
    parser.set_defaults(handler=run)


def probability_threshold(text: str) -> float:
    """``--candidate-threshold``: a probability strictly between 0 and 1.

    At 1 or above no voxel is a candidate, so every case would score 0 and the
    first by name would be proposed as if it were the least certain.
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError("the candidate threshold is a network probability between 0 and 1 "
                                         "(exclusive), e.g. 0.01; got %r" % text)
    return value


def case_count(text: str) -> int:
    """``--top``: a whole number of cases, 1 or more (0 or a negative number would list all, or all but some)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("give how many cases to list as a whole number, 1 or more; got %r" % text)
    return value


def run(args) -> int:
    from ..correction import failed_analysis_folders, rank_by_uncertainty, unfinished_analysis_folders
    from ..devices import check_device_name

    args.device = check_device_name(args.device)  # a typo is refused, also where saved maps need no network
    source = batch_scans(Path(args.source)) if args.kind in ("auto", "analyses") else Path(args.source)
    kind = detect_kind(source) if args.kind == "auto" else args.kind
    candidates, model_text = gather_candidates(source, kind, args.model, args.device)
    unfinished = unfinished_analysis_folders(source) if kind == "analyses" else []
    failed = failed_analysis_folders(source) if kind == "analyses" else {}
    if not candidates:
        print("No case to rank in %s: %s" % (args.source, _nothing_message(kind)))
        _print_left_out(failed, unfinished)
        return 0 if kind == "dataset" else 1  # a dataset all labelled is done; an empty folder is likely a wrong path
    slow = kind != "analyses"  # the network runs on every case: say which one
    progress = ProgressPrinter()
    ranked = rank_by_uncertainty(_with_progress(candidates, progress) if slow else candidates, args.measure,
                                 args.candidate_threshold)
    if slow:
        progress.end()
    shown = ranked[:args.top] if args.top else ranked
    definition = MEASURE_DEFINITIONS[args.measure].format(threshold=args.candidate_threshold)
    if args.json:
        print(json.dumps(dict(_as_json(shown, args, kind, model_text, definition), left_out_unfinished=unfinished,
                              left_out_failed=[{"case": name, "error": error} for name, error in failed.items()]),
                         indent=2))
    else:
        _print_table(shown, len(ranked), args.measure, kind, model_text, definition)
        _print_left_out(failed, unfinished)
    return 0 if any(not item.error for item in ranked) else 1  # every case failed: nothing was proposed


def batch_scans(source: Path) -> Path:
    """A batch output folder's ``scans/`` (its analyses), else ``source`` itself."""
    scans = source / "scans"
    return scans if scans.is_dir() and (source / "status.csv").is_file() else source


def detect_kind(source: Path) -> str:
    """``dataset`` (has dataset.json), ``analyses`` (sub-folders with probabilities.nrrd) or ``exams``."""
    from ..errors import InputError

    if not source.is_dir():
        raise InputError("%s is not a folder: give a dataset folder, a folder of analysis results or a folder of "
                         "exams." % source)
    if (source / "dataset.json").is_file():
        return "dataset"
    if any((child / "probabilities.nrrd").is_file() for child in source.iterdir() if child.is_dir()):
        return "analyses"
    return "exams"


def gather_candidates(source: Path, kind: str, model: Optional[str], device: str) -> Tuple[Dict[str, Any], str]:
    """The cases to score (name -> probabilities or a loader) and a description of where they come from."""
    from ..correction import analysis_folder_candidates, exam_folder_candidates, unlabelled_dataset_candidates

    if kind == "analyses":
        return analysis_folder_candidates(source), "saved probability maps"
    predictor, describe = network_predictor(model, device)
    if kind == "dataset":
        return unlabelled_dataset_candidates(source, predictor), describe
    return exam_folder_candidates(source, predictor), describe


def network_predictor(model: Optional[str], device: str) -> Tuple[Callable[[Any], Any], Callable[[], str]]:
    """A function exam -> network probabilities (slice, row, col), loading the model once on first use.

    Only the network runs: uncertainty needs the raw probabilities, not the
    T2 fit or the refinement rules. The second function names the model used.
    """
    loaded: List[Any] = []

    def predict(exam):
        from ..devices import select_device
        from ..inference import predict_probabilities
        from ..model_registry import load_model

        if not loaded:
            resolved = select_device(device)
            loaded.extend([load_model(model, device="cpu"), resolved])
        probabilities, _ = predict_probabilities(exam, loaded[0], loaded[1])
        return probabilities

    def describe() -> str:
        return "model %s v%s" % (loaded[0].name, loaded[0].version) if loaded else "model %s" % (model or "default")

    return predict, describe


def _with_progress(candidates: Dict[str, Any], progress: ProgressPrinter) -> Dict[str, Any]:
    total = len(candidates)

    def announce(number: int, case: str, source: Any) -> Any:
        def load():
            progress((number - 1) / total, "Scoring %s (%d/%d)" % (case, number, total))
            return source() if callable(source) else source
        return load

    return {case: announce(number + 1, case, source) for number, (case, source) in enumerate(candidates.items())}


def _print_left_out(failed: Dict[str, str], unfinished: List[str]) -> None:
    """Name the scans of a folder of analyses that were not ranked: failed ones with their error, then unfinished."""
    from ..failed_scans import failed_scans_heading

    if failed:
        heading = failed_scans_heading(len(failed))
        print("%s%s:" % (heading[0].upper(), heading[1:]))
        for name, error in failed.items():
            print("  %s: %s" % (name, error))
    if unfinished:
        print(_unfinished_note(unfinished))


def _unfinished_note(names: List[str]) -> str:
    """The line naming analysis folders left out because their writing did not finish (no DONE.json)."""
    return ("Left out %d unfinished analysis folder(s) (no DONE.json: interrupted, or still being written; let the "
            "batch finish or run it again): %s" % (len(names), ", ".join(names)))


def _nothing_message(kind: str) -> str:
    return {"dataset": "every case of the dataset already has an approved label. To choose among new exams, give "
                       "a folder of exams or a batch's output folder instead.",
            "analyses": "no sub-folder holds the probabilities.nrrd of a finished analysis.",
            "exams": "no exam (DICOM folder or 4D NRRD/NIfTI file) was found."}[kind]


def _model_text(model_text: Any) -> str:
    return model_text() if callable(model_text) else str(model_text)


def _print_table(ranked, total: int, measure: str, kind: str, model_text, definition: str) -> None:
    where = {"analyses": "folder of analysis results", "exams": "folder of exams", "dataset": "dataset"}[kind]
    print("%d case(s) of the %s ranked by %s, least certain first; scored from %s."
          % (total, where, measure, _model_text(model_text)))
    print()
    print("%4s  %-32s %10s  %16s" % ("rank", "case", measure if len(measure) <= 10 else "score", "candidate voxels"))
    for number, item in enumerate(ranked, 1):
        if item.error:
            print("%4s  %-32s not scored: %s" % ("-", item.case, item.error))
        else:
            print("%4d  %-32s %10.4f  %16d" % (number, item.case, item.score, item.n_candidates))
    scored = [item for item in ranked if not item.error]
    print()
    if scored:
        print("Next case to correct: %s (%s %.4f)" % (scored[0].case, measure, scored[0].score))
    else:
        print("No case could be scored; see the reasons above.")
    print("Measure %r: %s %s" % (measure, definition, NO_CANDIDATES_NOTE))


def _as_json(ranked, args, kind: str, model_text, definition: str) -> Dict[str, Any]:
    return {
        "source": str(args.source), "kind": kind, "scored_from": _model_text(model_text), "measure": args.measure,
        "definition": definition, "candidate_threshold": args.candidate_threshold,
        "ranking": [{"rank": number, "case": item.case, "score": None if item.error else item.score,
                     "n_candidates": item.n_candidates, "error": item.error}
                    for number, item in enumerate(ranked, 1)],
    }
