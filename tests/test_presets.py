"""The failure-mode presets show what they are named for: each preset's run, trained as the
dashboard trains it (one thread, the recipe's first seed), gets that verdict from toylab.outcomes."""

import pytest
import torch

from toylab import Trainer, TrainConfig
from toylab.experiments.presets import PRESETS, check_preset, preset_fields
from toylab.experiments.spec import load_experiment
from toylab.measure.outcomes import classify

VERDICTS = {"collapse": "mode_collapse", "vanishing": "vanishing_gradient", "oscillation": "oscillating",
            "converging": "converged"}


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_gets_its_verdict(name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                   # as the dashboard trains (and bit for bit the same run)
    try:
        run = Trainer(TrainConfig(**preset_fields(name), device="cpu")).fit()
    finally:
        torch.set_num_threads(threads)
    outcome = classify(run, rules=load_experiment(PRESETS[name].recipe).rules)
    assert outcome.outcome == VERDICTS[name], outcome.reason


def test_an_unknown_preset_is_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match="preset: unknown 'colapse'; allowed: collapse, vanishing, oscillation"):
        check_preset("colapse")
