"""Where torch runs: "auto", "cpu", "cuda", "cuda:N" or "mps", each checked before use.

A GPU is used only after a tiny computation on it gave the right answer, so a
broken driver or a missing device becomes a clear message (or, for "auto", a
quiet fall-back to the CPU) instead of a failure halfway through an analysis.
torch is passed in or imported inside the functions, never at module import.
"""

from __future__ import annotations

from typing import Any, Tuple, Union

from .errors import InputError


def cuda_works(torch, index: int = 0) -> Tuple[bool, str]:
    """Whether GPU ``index`` exists and computes a tiny sum correctly, with a description of it or of the failure."""
    try:
        if not torch.cuda.is_available():
            return False, "no CUDA GPU found"
        count = int(torch.cuda.device_count())
        if not 0 <= index < count:
            return False, "there is no GPU %d (this machine has %d: cuda:0%s)" % (
                index, count, "" if count == 1 else "..cuda:%d" % (count - 1))
        probe = torch.ones(8, device="cuda:%d" % index) * 2.0
        torch.cuda.synchronize(index)
        if float(probe.sum().item()) != 16.0:
            return False, "CUDA returned a wrong result on GPU %d" % index
        return True, "cuda:%d (%s)" % (index, torch.cuda.get_device_name(index))
    except Exception as error:  # broken drivers raise many kinds of errors
        return False, "CUDA is present but not usable (%s)" % str(error).splitlines()[0]


def cuda_index(text: str) -> int:
    """The GPU index of "cuda" (0) or "cuda:N"; InputError for anything else."""
    if text.lower() == "cuda":
        return 0
    name, _, number = text.lower().partition(":")
    if name != "cuda" or not number.isdigit():
        raise unknown_device(text)
    return int(number)


def unknown_device(text: str) -> InputError:
    """The one error for a device name no command knows, naming the choices (raised by the caller)."""
    return InputError("Unknown device %r: use auto, cpu, cuda, cuda:N (N a GPU number) or mps." % text)


def check_device_name(text: str) -> str:
    """``text`` lower-cased when it names a device :func:`select_device` knows ("auto", "cpu", "cuda",
    "cuda:N", "mps"); InputError for anything else. Nothing is probed: a batch checks the name here, and each
    worker, whose GPUs may differ from this machine's, checks the device itself."""
    lowered = str(text).strip().lower()
    if lowered in ("auto", "cpu", "mps"):
        return lowered
    cuda_index(lowered)  # InputError naming the choices for anything but "cuda" / "cuda:N"
    return lowered


def require_cuda(torch, text: str):
    """The torch device of an explicitly requested "cuda"/"cuda:N" and its description; InputError
    naming the problem when that GPU is missing or does not compute correctly."""
    index = cuda_index(text)
    works, description = cuda_works(torch, index)
    if not works:
        raise InputError("--device %s was requested but %s. Use --device cpu or auto." % (text, description))
    return torch.device("cuda:%d" % index), description


def mps_works(torch) -> bool:
    """Whether an Apple GPU (Metal) is present and computes a tiny sum correctly."""
    try:
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            return False
        return float((torch.ones(4, device="mps") * 2.0).sum().item()) == 8.0
    except Exception:
        return False


def cpu_description(torch) -> str:
    """"cpu (N threads)": the CPU with the number of threads torch will use."""
    return "cpu (%d threads)" % torch.get_num_threads()


def select_device(requested: Union[str, Any] = "auto") -> Tuple[Any, str]:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps" to ``(torch.device, description)``.

    An explicit "cuda" that does not work raises :class:`InputError`; "auto" falls back quietly.
    """
    import torch

    text = str(requested or "auto").lower()
    if text == "cpu":
        return torch.device("cpu"), cpu_description(torch)
    if text == "auto":
        works, description = cuda_works(torch)
        if works:
            return torch.device("cuda:0"), description
        if mps_works(torch):
            return torch.device("mps"), "mps (Apple GPU)"
        return torch.device("cpu"), cpu_description(torch)
    if text.startswith("cuda"):
        return require_cuda(torch, text)
    if text == "mps":
        if not mps_works(torch):
            raise InputError("--device mps was requested but no working Apple GPU was found. Use cpu or auto.")
        return torch.device("mps"), "mps (Apple GPU)"
    raise unknown_device(str(requested))
