"""The 2D U-Net that segments femoral cartilage one sagittal slice at a time.

Topology (the published reference model at its defaults, 34,585,761 parameters):

* ``levels`` resolution levels with ``base_filters * 2**level`` filters
  (32, 64, 128, 256, 512, 1024). Each level: two 3x3 convolutions with bias,
  zero 'same' padding, ReLU (optionally batch-norm before the ReLU, for our own
  models only). 2x2 max-pooling between encoder levels.
* Decoder: 3x3 transposed convolution, stride 2, with Keras/TensorFlow
  ``padding='same'`` semantics, concatenated as ``[upsampled, skip]`` (the
  transposed-convolution channels first), then two 3x3 conv + ReLU.
* Output: 1x1 convolution and a sigmoid: probability of femoral cartilage.

Why the transposed convolution is not ``ConvTranspose2d(padding=1,
output_padding=1)``: TensorFlow defines a stride-2 'same' transposed
convolution as the adjoint of a stride-2 'same' convolution, which on an even
input pads 0 pixels before and 1 after. Its output is therefore the *first*
``2n`` samples of the full ``2n + 1`` transposed-convolution output, whereas
PyTorch's ``padding=1`` drops the first sample (a one-pixel shift, the classic
porting bug). We compute the full output (``padding=0``) and keep ``[:2n]``;
the Keras fixture test proves the equivalence numerically.

Tensors are ``(N, C, H, W)``: batch of slices, channel, row, col. ``H`` and
``W`` must be divisible by ``2**(levels - 1)`` (384 is, for 6 levels).

torch is imported lazily (inside :func:`build_unet`) so that this module can be
imported without it.
"""

from __future__ import annotations

from typing import Any, Dict, List

REFERENCE_ARCHITECTURE: Dict[str, Any] = {"levels": 6, "base_filters": 32, "batch_norm": False, "in_channels": 1}
REFERENCE_PARAMETER_COUNT = 34585761


def level_filters(levels: int, base_filters: int) -> List[int]:
    """Number of filters at each level, top (full resolution) to bottom."""
    return [int(base_filters) * 2 ** level for level in range(int(levels))]


def required_divisor(levels: int) -> int:
    """Input height and width must be multiples of this (one halving per pooling)."""
    return 2 ** (int(levels) - 1)


def build_unet(levels: int = 6, base_filters: int = 32, batch_norm: bool = False, in_channels: int = 1):
    """Build the U-Net as a ``torch.nn.Module`` (weights randomly initialised).

    Args:
        levels: resolution levels including the bottleneck (>= 2).
        base_filters: filters at the top level; doubled at every level down.
        batch_norm: insert BatchNorm2d after every 3x3 convolution (not in the
            published model; allowed for models we train ourselves).
        in_channels: input channels (1: one echo image per slice).

    The module's ``forward(x, return_logits=False)`` takes ``(N, in_channels, H, W)``
    float32 and returns probabilities ``(N, 1, H, W)`` (or logits when asked),
    ``logits(x)`` is a shortcut for training losses that want logits.
    """
    import torch
    from torch import nn

    if int(levels) < 2:
        raise ValueError("a U-Net needs at least 2 levels, got %r" % (levels,))
    if int(base_filters) < 1 or int(in_channels) < 1:
        raise ValueError("base_filters and in_channels must be positive")

    def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
        layers: List[nn.Module] = []
        for conv_in in (in_ch, out_ch):
            layers.append(nn.Conv2d(conv_in, out_ch, kernel_size=3, padding=1, bias=True))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    class SameUpsample(nn.Module):
        """Stride-2 3x3 transposed convolution with TensorFlow 'same' output alignment."""

        def __init__(self, in_ch: int, out_ch: int) -> None:
            super().__init__()
            self.conv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=3, stride=2, padding=0, bias=True)

        def forward(self, x):
            height, width = x.shape[-2], x.shape[-1]
            return self.conv(x)[..., : 2 * height, : 2 * width]

    class UNet2D(nn.Module):
        """U-Net of :mod:`KneeCartilageT2Lib.unet`; see the module docstring for the topology."""

        def __init__(self) -> None:
            super().__init__()
            filters = level_filters(levels, base_filters)
            self.levels = int(levels)
            self.architecture = {
                "levels": int(levels),
                "base_filters": int(base_filters),
                "batch_norm": bool(batch_norm),
                "in_channels": int(in_channels),
            }
            self.encoders = nn.ModuleList()
            previous = int(in_channels)
            for count in filters:
                self.encoders.append(double_conv(previous, count))
                previous = count
            self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
            self.upsamplers = nn.ModuleList()
            self.decoders = nn.ModuleList()
            for count in reversed(filters[:-1]):
                self.upsamplers.append(SameUpsample(count * 2, count))
                self.decoders.append(double_conv(count * 2, count))
            self.head = nn.Conv2d(filters[0], 1, kernel_size=1, bias=True)

        def logits(self, x):
            """Pre-sigmoid output ``(N, 1, H, W)``."""
            divisor = required_divisor(self.levels)
            if x.shape[-2] % divisor or x.shape[-1] % divisor:
                raise ValueError(
                    "U-Net input %dx%d must be a multiple of %d in both directions"
                    % (x.shape[-2], x.shape[-1], divisor)
                )
            skips = []
            for index, encoder in enumerate(self.encoders):
                x = encoder(x)
                if index < self.levels - 1:
                    skips.append(x)
                    x = self.pool(x)
            for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips)):
                x = decoder(torch.cat([upsample(x), skip], dim=1))
            return self.head(x)

        def forward(self, x, return_logits: bool = False):
            output = self.logits(x)
            return output if return_logits else torch.sigmoid(output)

    return UNet2D()


def build_unet_from_spec(architecture: Dict[str, Any]):
    """Build from an architecture dict (``levels``, ``base_filters``, ``batch_norm``, ``in_channels``)."""
    merged = dict(REFERENCE_ARCHITECTURE)
    merged.update({key: architecture[key] for key in REFERENCE_ARCHITECTURE if key in architecture})
    return build_unet(
        levels=int(merged["levels"]),
        base_filters=int(merged["base_filters"]),
        batch_norm=bool(merged["batch_norm"]),
        in_channels=int(merged["in_channels"]),
    )


def count_parameters(model) -> int:
    """Number of trainable parameters (batch-norm running statistics excluded)."""
    return int(sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad))


def conv_flops(levels: int = 6, base_filters: int = 32, height: int = 384, width: int = 384, in_channels: int = 1) -> float:
    """Floating-point operations of one forward pass on one slice, convolutions only.

    Counts ``2 * k * k * c_in * c_out * H_out * W_out`` per convolution (multiply
    and add). A stride-2 transposed convolution is counted at its *input*
    resolution (each input pixel scatters one full kernel: the arithmetic
    actually needed), not at its output resolution, which would overstate the
    work four-fold. Used by the benchmark to report achieved GFLOP/s.
    """
    filters = level_filters(levels, base_filters)
    total = 0.0
    previous = in_channels
    for level, count in enumerate(filters):
        pixels = (height >> level) * (width >> level)
        total += 2 * 9 * previous * count * pixels + 2 * 9 * count * count * pixels
        previous = count
    for level in range(levels - 2, -1, -1):
        count = filters[level]
        pixels = (height >> level) * (width >> level)
        total += 2 * 9 * (2 * count) * count * (pixels // 4)  # transposed conv, input pixels
        total += 2 * 9 * (2 * count) * count * pixels + 2 * 9 * count * count * pixels
    total += 2 * filters[0] * height * width
    return total
