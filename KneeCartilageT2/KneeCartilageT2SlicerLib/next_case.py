"""Which case of a training dataset the reader corrects next, and loading it (no Qt).

*Next case* chooses among the unlabelled cases: one with a draft of the
reader's corrections first (the most recently saved: unfinished work before
new work), else by the strategy, ``first`` (by case id), ``random`` or
``uncertain``. The first two choose at once. ``uncertain`` runs the model on
every unlabelled case in a worker process (minutes on a CPU for a large
dataset), so :func:`start_choice` only starts that ranking and returns; the
panel polls ``choice.job`` like a model run (progress, Cancel), then
:func:`chosen_case` reads the ranking. Nothing of the scene is touched until
the chosen case is loaded by :func:`load_case`. Its messages are marked for
Slicer's translation (``_``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from KneeCartilageT2Lib.errors import InputError, KneeT2Error

from .case_drafts import mark_dataset_case
from .exam_from_nodes import exam_to_sequence
from .processing import WorkerJob
from .translation import tr as _

NEXT_CASE_STRATEGIES = ("first", "random", "uncertain")


@dataclass
class NextCaseChoice:
    """A *Next case* under way: ``job`` ranks the unlabelled cases in a worker (poll it), or is None when
    ``case_id`` was chosen at once (``case_id`` None as well: every case has an approved label)."""

    dataset_dir: Path
    case_id: Optional[str] = None
    job: Optional[WorkerJob] = None


def start_choice(dataset_dir, strategy: str, options, seed: Optional[int] = None,
                 python: Optional[str] = None) -> NextCaseChoice:
    """Choose the next case, or start the worker that ranks them (``uncertain``, no drafted case); returns at once."""
    from KneeCartilageT2Lib.dataset_format import require_dataset

    if strategy not in NEXT_CASE_STRATEGIES:
        raise InputError(_("Unknown next-case strategy {strategy!r}; use {choices}.").format(
            strategy=strategy, choices=", ".join(NEXT_CASE_STRATEGIES)))
    dataset_dir = require_dataset(dataset_dir)
    unlabelled = unlabelled_cases(dataset_dir)
    drafted = drafted_case(dataset_dir, unlabelled)
    if not unlabelled or drafted is not None:
        return NextCaseChoice(dataset_dir, drafted)
    if strategy == "random":
        return NextCaseChoice(dataset_dir, random.Random(seed).choice(unlabelled))
    if strategy == "first":
        return NextCaseChoice(dataset_dir, unlabelled[0])
    job = WorkerJob("rank_cases", {"dataset_dir": str(dataset_dir), "options": options.as_dict()}, python=python)
    return NextCaseChoice(dataset_dir, job=job.start())


def chosen_case(choice: NextCaseChoice) -> Optional[str]:
    """The case to load once ``choice.job`` has finished (None: every case is labelled by now).

    Raises the worker's error (Cancel: :class:`OperationCancelled`), worded as the ranking's. The ranking
    is checked against the dataset as it is now: a case labelled meanwhile is passed over, and a draft
    saved meanwhile is still resumed first.
    """
    if choice.job is None:
        return choice.case_id
    try:
        ranked = choice.job.result()
    except KneeT2Error as error:
        if choice.job.state == "cancelled":
            raise
        raise type(error)(_("Ranking the unlabelled cases with the model failed: {error}").format(error=error)) \
            from error
    finally:
        choice.job.cleanup()
    unlabelled = unlabelled_cases(choice.dataset_dir)
    drafted = drafted_case(choice.dataset_dir, unlabelled)
    if not unlabelled or drafted is not None:
        return drafted
    scored = [item for item in ranked if not item.get("error")]
    if not scored:
        failures = "; ".join("%s: %s" % (item.get("case"), item.get("error")) for item in ranked[:3])
        raise InputError(_("No unlabelled case could be scored by the model ({failures}). Choose the 'first' or "
                           "'random' strategy, or check the model under Model.").format(
            failures=failures or _("the dataset listed none")))
    for item in scored:
        if item["case"] in unlabelled:
            return item["case"]
    raise InputError(_("Every case the model ranked was labelled while it ran; press 'Next case' again."))


def load_case(dataset_dir, case_id: str, scene):
    """Put a dataset case into ``scene`` as a sequence marked as that case; its proxy volume."""
    from KneeCartilageT2Lib.dataset_format import read_case

    exam = read_case(dataset_dir, case_id)[0]
    proxy = exam_to_sequence(exam, scene, case_id)[2]  # (sequence, browser, proxy)
    mark_dataset_case(proxy, dataset_dir, case_id)
    return proxy


def unlabelled_cases(dataset_dir) -> List[str]:
    """The dataset's case ids without an approved label, by case id."""
    from KneeCartilageT2Lib.dataset_format import list_cases

    return [record.case_id for record in list_cases(dataset_dir) if not record.is_labelled]


def drafted_case(dataset_dir, unlabelled: List[str]) -> Optional[str]:
    """The unlabelled case whose draft was saved last, or None when none has a draft."""
    from KneeCartilageT2Lib.dataset_drafts import draft_info

    drafted = sorted((info.saved, case_id) for case_id in unlabelled
                     for info in [draft_info(dataset_dir, case_id)] if info is not None)
    return drafted[-1][1] if drafted else None
