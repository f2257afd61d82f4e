"""Run the U-Net on an exam: device choice, batching, CUDA fallback, cancellation.

:func:`predict_probabilities` returns the network's cartilage probability on
the exam grid, float32 ``(slice, row, col)``; :func:`segment_exam` adds the
refinement rules (:mod:`refinement`) and returns a :class:`SegmentationResult`.

Devices: "auto" uses CUDA when a GPU is present *and* a tiny operation on it
succeeds, then Apple MPS likewise, else the CPU. A CUDA out-of-memory error
mid-volume is not fatal: the remaining slices run on the CPU and a message
says so. Progress is reported per batch; a :class:`CancelToken` is checked
between batches and raises :class:`OperationCancelled` before anything is
returned or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, Union

import numpy as np

from .devices import cpu_description, select_device  # noqa: F401  (select_device: public here too)
from .exam import MeseExam
from .progress import CancelToken, ProgressCallback, no_progress


class SliceModel(Protocol):
    """What inference needs from a model (``model_registry.LoadedModel`` is one; tests use fakes).

    ``spec`` holds ``preprocessing`` and ``refinement`` dicts; calling the
    model maps an ``(N, 1, H, W)`` float32 tensor to probabilities of the same shape.
    """

    name: str
    version: str
    spec: Dict[str, Any]

    def to(self, device) -> Any: ...

    def __call__(self, batch) -> Any: ...


@dataclass
class SegmentationResult:
    """Segmentation of one exam.

    Attributes:
        label: uint8 (slice, row, col), 1 = femoral cartilage, on the exam grid.
        probabilities: float32 (slice, row, col) network output on the exam grid.
        device: where the network ran, in words (e.g. "cuda:0 (NVIDIA H100)").
        model_name, model_version: which model made it.
        parameters: preprocessing, refinement, echo used, thresholds actually applied, and the
            slices the slice rule emptied (:meth:`slice_rule.SliceRule.as_parameters`).
        messages: what happened, for the user (fallbacks, rules applied, no cartilage).
        cartilage_found: False when the refinement left too little cartilage.
        candidates: bool (slice, row, col), p > candidate threshold.
    """

    label: np.ndarray
    probabilities: np.ndarray
    device: str
    model_name: str
    model_version: str
    parameters: Dict[str, Any] = field(default_factory=dict)
    messages: List[str] = field(default_factory=list)
    cartilage_found: bool = True
    candidates: Optional[np.ndarray] = None


def default_batch_size(device) -> int:
    """Slices per forward pass: small on CPU (memory < 4 GB at 384 x 384), larger on a GPU."""
    return 8 if getattr(device, "type", str(device)) == "cuda" else 2


def _is_out_of_memory(error: BaseException, torch) -> bool:
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _to_device(tensor, device):
    return tensor.to(device)


def run_network(
    batch_khw: np.ndarray,
    model: SliceModel,
    device: Any,
    description: str,
    batch_size: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    messages: Optional[List[str]] = None,
) -> Tuple[np.ndarray, str]:
    """Probabilities ``(slice, H, W)`` for network-grid slices, in batches; CPU fallback on CUDA OOM."""
    import torch

    report = progress or no_progress
    messages = messages if messages is not None else []
    size = int(batch_size or default_batch_size(device))
    output = np.empty(batch_khw.shape, dtype=np.float32)
    model.to(device)
    start = 0
    with torch.inference_mode():
        while start < batch_khw.shape[0]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            stop = min(start + size, batch_khw.shape[0])
            chunk = torch.from_numpy(np.ascontiguousarray(batch_khw[start:stop, np.newaxis]))
            try:
                result = model(_to_device(chunk, device))
            except Exception as error:
                if getattr(device, "type", "cpu") == "cpu" or not _is_out_of_memory(error, torch):
                    raise
                messages.append("The GPU ran out of memory at slice %d; the remaining slices ran on the CPU "
                                "(slower). Close other GPU programs or use --device cpu." % start)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                device = torch.device("cpu")
                description = cpu_description(torch) + ", after GPU out of memory"
                model.to(device)
                continue
            output[start:stop] = result[:, 0].float().cpu().numpy()
            start = stop
            report(start / batch_khw.shape[0], "Segmenting slices (%d/%d)" % (start, batch_khw.shape[0]))
    return output, description


def predict_probabilities(
    exam: MeseExam,
    model: SliceModel,
    device: Any = "auto",
    batch_size: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    messages: Optional[List[str]] = None,
    info: Optional[Dict[str, Any]] = None,
) -> Tuple[np.ndarray, str]:
    """Cartilage probability on the exam grid: ``(float32 (slice, row, col), device description)``.

    ``device`` is a name for :func:`select_device` or an already resolved
    ``(torch.device, description)`` pair. ``messages`` (a list) receives
    user-facing notes such as a CPU fallback; ``info`` (a dict), when given,
    receives the echo index and TE used and the network grid.
    """
    from .preprocessing import from_network_grid, preprocess_exam, spacing_row_col

    torch_device, description = device if isinstance(device, tuple) else select_device(device)
    preprocessing = dict(model.spec.get("preprocessing") or {})
    batch, context = preprocess_exam(exam.echoes, exam.echo_times_ms, spacing_row_col(exam.ijk_to_ras),
                                     preprocessing, exam.ijk_to_ras)
    network, description = run_network(batch, model, torch_device, description, batch_size, progress, cancel, messages)
    if cancel is not None:
        cancel.raise_if_cancelled()
    probabilities = np.clip(from_network_grid(network, context), 0.0, 1.0)
    if info is not None:
        info.update({
            "echo_index": int(context.echo_index),
            "echo_time_ms": float(exam.echo_times_ms[context.echo_index]),
            "network_shape": list(context.network_shape),
            "reoriented": bool(context.transpose or context.flip_rows or context.flip_cols),
            "preprocessing": preprocessing,
        })
    return probabilities, description


T2Source = Union[None, np.ndarray, Callable[[np.ndarray], np.ndarray]]


def segment_exam(
    exam: MeseExam,
    model: Union[SliceModel, str, None],
    device: Any = "auto",
    t2_ms: T2Source = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    batch_size: Optional[int] = None,
    t2_range_ms: Optional[Tuple[float, float]] = None,
) -> SegmentationResult:
    """Segment femoral cartilage: network, then the model's refinement rules.

    ``model`` is a loaded model or a name/path for :func:`model_registry.load_model`.
    ``t2_ms`` is a T2 map (ms, (slice, row, col), NaN where not fitted), or a
    function ``candidates (bool mask) -> T2 map`` so that T2 is fitted only
    where the network sees possible cartilage, or None to skip the T2 rule.
    ``t2_range_ms``: the valid T2 range ``(low, high]`` of the analysis (the one
    the T2 map was fitted with), which then replaces the model's own range in the
    T2 rule, so that the label keeps exactly the voxels the T2 map calls valid;
    None keeps the model's range.
    An empty result is returned (``cartilage_found=False``, with a message)
    rather than raised, so the caller can still write outputs and explain.
    """
    from .progress import scaled_progress

    report = progress or no_progress
    if model is None or isinstance(model, str):
        from .model_registry import load_model

        model = load_model(model, device="cpu", cancel=cancel)
    messages: List[str] = []
    resolved = select_device(device)
    info: Dict[str, Any] = {}
    probabilities, description = predict_probabilities(
        exam, model, resolved, batch_size, scaled_progress(report, 0.0, 0.8), cancel, messages, info)
    return segmentation_from_probabilities(exam, probabilities, model, description, t2_ms,
                                           scaled_progress(report, 0.8, 1.0), cancel, messages, info, t2_range_ms)


def segmentation_from_probabilities(
    exam: MeseExam,
    probabilities: np.ndarray,
    model: Any,
    device_description: str,
    t2_ms: T2Source = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    messages: Optional[List[str]] = None,
    info: Optional[Dict[str, Any]] = None,
    t2_range_ms: Optional[Tuple[float, float]] = None,
) -> SegmentationResult:
    """Apply the model's refinement rules to network probabilities (slice, row, col).

    The second half of :func:`segment_exam`, also used when the network ran
    elsewhere (a GPU worker of a batch run). ``model`` only needs ``name``,
    ``version`` and ``spec``. ``t2_range_ms``: as in :func:`segment_exam`.
    """
    from .preprocessing import spacing_row_col
    from .refinement import RefinementParams, candidate_mask, refine_segmentation

    from .acquisition_checks import plane_note

    report = progress or no_progress
    messages = plane_note(exam.ijk_to_ras) + list(messages or [])
    refinement = dict(model.spec.get("refinement") or {})
    if t2_range_ms is not None:
        refinement["t2_range_ms"] = list(t2_range_ms)
    params = RefinementParams.from_dict(refinement)
    if callable(t2_ms):
        report(0.0, "Fitting T2 in candidate voxels")
        t2_ms = t2_ms(candidate_mask(probabilities, params))
        if cancel is not None:
            cancel.raise_if_cancelled()
    row_mm, col_mm = spacing_row_col(exam.ijk_to_ras)
    refined = refine_segmentation(probabilities, t2_ms, row_mm * col_mm, params)
    messages.extend(refined.messages)
    parameters = dict(info or {}, refinement=params.as_dict(), pixel_area_mm2=row_mm * col_mm,
                      total_voxel_threshold=refined.total_voxel_threshold,
                      **refined.slice_rule.as_parameters())  # the slice threshold and what it emptied, per slice
    report(1.0, "Segmentation done")
    return SegmentationResult(
        label=refined.label, probabilities=probabilities, device=device_description,
        model_name=str(getattr(model, "name", "")), model_version=str(getattr(model, "version", "")),
        parameters=parameters, messages=messages, cartilage_found=refined.cartilage_found,
        candidates=refined.candidates,
    )

