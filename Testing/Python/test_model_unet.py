"""U-Net topology: the published parameter count, shapes, logits, FLOP count, input checks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib import unet  # noqa: E402


def test_full_size_network_has_the_published_parameter_count():
    model = unet.build_unet()
    assert unet.count_parameters(model) == unet.REFERENCE_PARAMETER_COUNT == 34585761


def test_level_filters_double_from_the_base():
    assert unet.level_filters(6, 32) == [32, 64, 128, 256, 512, 1024]
    assert unet.required_divisor(6) == 32


def test_small_network_returns_probabilities_and_logits_of_the_input_size():
    torch.manual_seed(0)
    model = unet.build_unet(levels=3, base_filters=4).eval()
    x = torch.randn(2, 1, 24, 40)
    with torch.no_grad():
        probabilities = model(x)
        logits = model(x, return_logits=True)
    assert probabilities.shape == (2, 1, 24, 40)
    assert torch.allclose(probabilities, torch.sigmoid(logits), atol=1e-6)
    assert torch.allclose(model.logits(x), logits)
    assert float(probabilities.min()) >= 0.0 and float(probabilities.max()) <= 1.0


def test_input_not_divisible_by_the_pooling_factor_is_refused():
    model = unet.build_unet(levels=3, base_filters=2)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.zeros(1, 1, 30, 32))


def test_batch_norm_variant_adds_two_parameters_per_channel_of_every_3x3_conv():
    plain = unet.count_parameters(unet.build_unet(levels=3, base_filters=4))
    with_norm = unet.build_unet(levels=3, base_filters=4, batch_norm=True)
    conv_channels = 2 * (4 + 8 + 16) + 2 * (8 + 4)
    assert unet.count_parameters(with_norm) == plain + 2 * conv_channels
    with_norm.train()
    assert with_norm(torch.randn(2, 1, 16, 16)).shape == (2, 1, 16, 16)


def test_skip_concatenation_puts_upsampled_channels_first():
    torch.manual_seed(1)
    model = unet.build_unet(levels=2, base_filters=2).eval()
    assert model.decoders[0][0].in_channels == 4
    captured = {}

    def keep(key, value):
        captured[key] = value.clone()

    model.encoders[0].register_forward_hook(lambda module, inputs, output: keep("skip", output))
    model.upsamplers[0].register_forward_hook(lambda module, inputs, output: keep("up", output))
    model.decoders[0].register_forward_hook(lambda module, inputs, output: keep("cat", inputs[0]))
    with torch.no_grad():
        model(torch.randn(1, 1, 8, 8))
    assert torch.equal(captured["cat"][:, :2], captured["up"])
    assert torch.equal(captured["cat"][:, 2:], captured["skip"])


def test_conv_flops_match_a_count_from_forward_hooks():
    model = unet.build_unet(levels=3, base_filters=4).eval()
    total = [0.0]

    def count(module, inputs, output):
        kernel = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, torch.nn.ConvTranspose2d):
            pixels = inputs[0].shape[-2] * inputs[0].shape[-1]
        else:
            pixels = output.shape[-2] * output.shape[-1]
        total[0] += 2.0 * kernel * module.in_channels * module.out_channels * pixels

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(1, 1, 32, 48))
    assert unet.conv_flops(3, 4, 32, 48) == pytest.approx(total[0], rel=1e-12)
    # the full network on one 384 x 384 slice: about 70.8 GFLOP
    assert unet.conv_flops() == pytest.approx(70.76e9, rel=1e-3)


def test_build_from_spec_fills_missing_fields_from_the_reference():
    model = unet.build_unet_from_spec({"levels": 2, "base_filters": 3})
    assert model.architecture == {"levels": 2, "base_filters": 3, "batch_norm": False, "in_channels": 1}
    assert np.isclose(unet.count_parameters(model), sum(p.numel() for p in model.parameters()))
