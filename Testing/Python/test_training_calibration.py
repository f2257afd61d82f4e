"""The rule that picks a trained model's refinement settings from its validation figures."""

from KneeCartilageT2Lib.training_calibration import DICE_TOLERANCE, choose_setting, setting_key


def test_best_dice_wins_when_clearly_better():
    dice = {(0.4, 425.0): 0.90, (0.5, 425.0): 0.93, (0.4, 100.0): 0.91}
    error = {(0.4, 425.0): 0.1, (0.5, 425.0): 0.9, (0.4, 100.0): 0.2}
    assert choose_setting(dice, error, 425.0) == (0.5, 425.0)


def test_within_tolerance_the_smaller_t2_difference_wins():
    dice = {(0.4, 425.0): 0.930, (0.4, 200.0): 0.930 + DICE_TOLERANCE / 2, (0.3, 200.0): 0.90}
    error = {(0.4, 425.0): 0.31, (0.4, 200.0): 0.24, (0.3, 200.0): 0.01}
    assert choose_setting(dice, error, 425.0) == (0.4, 200.0)


def test_exact_ties_prefer_the_reference_slice_rule_then_the_lower_threshold():
    dice = {(0.5, 100.0): 0.93, (0.5, 425.0): 0.93, (0.4, 425.0): 0.93}
    error = {setting: 0.5 for setting in dice}
    assert choose_setting(dice, error, 425.0) == (0.4, 425.0)


def test_setting_keys_are_readable():
    assert setting_key((0.4, 425.0)) == "p0.400/s425"
