"""Platt scaling of the uncalibrated fake logit."""

from __future__ import annotations

import dataclasses
import json
from typing import cast

import numpy as np
import pytest
import torch

from streamguard.evaluate.metrics import expected_calibration_error
from streamguard.model import Calibration, fit_platt
from streamguard.model.calibration import MAX_SCALE


def sigmoid(x: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return p


def logistic_sample(scale: float, bias: float, n: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits x ~ N(0, spread²) and labels is_fake ~ Bernoulli(sigmoid(scale·x + bias))."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=spread, size=n)
    y = (rng.uniform(size=n) < sigmoid(scale * x + bias)).astype(int)
    return x, y


def test_fit_platt_recovers_a_known_logistic_model() -> None:
    x, y = logistic_sample(3.0, -0.5, 20_000, seed=0)
    cal = fit_platt(x, y)
    assert cal.scale == pytest.approx(3.0, rel=0.1)
    assert cal.bias == pytest.approx(-0.5, rel=0.1)
    assert cal.method == "platt"
    assert cal.n_samples == 20_000


def test_fit_platt_never_reverses_the_ranking() -> None:
    # logits that point the wrong way: calibration stays monotone (a flip would contradict the predicted-class
    # selection of the mask), so the best it can do is flatten the scores towards the base rate
    x, y = logistic_sample(-2.0, 0.3, 20_000, seed=1)
    cal = fit_platt(x, y)
    assert 0.0 < cal.scale < 0.05
    p = cal.apply(torch.from_numpy(x)).numpy()
    assert abs(p.mean() - y.mean()) < 0.02


def test_fit_platt_bounds_the_scale_on_nearly_constant_logits() -> None:
    # an undertrained model: validation logits differ only by float noise
    x = np.full(6, 0.00378) + np.arange(6) * 1e-9
    cal = fit_platt(x, np.array([0, 0, 0, 1, 1, 1]))
    assert 0.0 < cal.scale <= MAX_SCALE


def test_calibration_fixes_the_squashed_logit_range() -> None:
    # The paper's score: logits confined to a narrow range (×0.05 of the true log-odds).
    rng = np.random.default_rng(2)
    true_logit = rng.normal(scale=2.5, size=10_000)
    is_fake = (rng.uniform(size=true_logit.size) < sigmoid(true_logit)).astype(int)
    squashed = 0.05 * true_logit
    uncalibrated = sigmoid(squashed)
    assert uncalibrated.min() > 0.25
    assert uncalibrated.max() < 0.75
    cal = fit_platt(squashed, is_fake)
    calibrated = cal.apply(torch.from_numpy(squashed)).numpy()
    ece_before = expected_calibration_error(is_fake, uncalibrated)
    ece_after = expected_calibration_error(is_fake, calibrated)
    assert ece_before > 0.1
    assert ece_after < 0.03
    assert ece_after < ece_before / 5
    assert cal.scale == pytest.approx(20.0, rel=0.1)


def test_fit_platt_stays_finite_on_perfectly_separated_scores() -> None:
    x = np.array([-2.0, -1.5, -1.0, 1.0, 1.5, 2.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    cal = fit_platt(x, y)
    assert np.isfinite(cal.scale)
    assert np.isfinite(cal.bias)
    assert cal.scale > 0
    p = cal.apply(torch.tensor(x)).numpy()
    # Platt's smoothed targets: no probability is pushed to exactly 0 or 1
    assert p.max() < 1.0
    assert p.min() > 0.0
    assert p[3:].min() > 0.5 > p[:3].max()


def test_fit_platt_accepts_bool_labels_and_lists() -> None:
    x, y = logistic_sample(1.5, 0.0, 2_000, seed=3)
    a = fit_platt(x, y)
    b = fit_platt(cast(np.ndarray, list(x)), y.astype(bool))  # a list on purpose: `fit_platt` takes any array-like
    assert b.scale == pytest.approx(a.scale, rel=1e-6)
    assert b.bias == pytest.approx(a.bias, abs=1e-6)


@pytest.mark.parametrize("labels", [np.zeros(10), np.ones(10)])
def test_fit_platt_needs_both_classes(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="both real and fake"):
        fit_platt(np.linspace(-1, 1, 10), labels)


def test_identity_calibration_is_the_sigmoid() -> None:
    cal = Calibration()
    assert (cal.scale, cal.bias, cal.method, cal.n_samples) == (1.0, 0.0, "none", 0)
    logits = torch.linspace(-6, 6, 25)
    torch.testing.assert_close(cal.apply(logits), torch.sigmoid(logits))
    # equals the paper's softmax over the two mean activations
    act = torch.tensor([[0.3, 0.8], [0.9, 0.2]])
    torch.testing.assert_close(cal.apply(act[:, 0] - act[:, 1]), torch.softmax(act, dim=1)[:, 0])


def test_apply_uses_scale_then_bias() -> None:
    cal = Calibration(scale=2.0, bias=-1.0, method="platt", n_samples=5)
    logits = torch.tensor([0.0, 0.5, 1.0, -3.0])
    expected = torch.sigmoid(torch.tensor([-1.0, 0.0, 1.0, -7.0]))
    torch.testing.assert_close(cal.apply(logits), expected)


def test_to_dict_from_dict_round_trip() -> None:
    cal = Calibration(scale=17.25, bias=-0.125, method="platt", n_samples=1234)
    data = cal.to_dict()
    assert data == {"scale": 17.25, "bias": -0.125, "method": "platt", "n_samples": 1234}
    restored = Calibration.from_dict(json.loads(json.dumps(data)))
    assert restored == cal
    assert Calibration.from_dict(Calibration().to_dict()) == Calibration()


def test_calibration_is_immutable() -> None:
    cal = Calibration()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.scale = 2.0  # type: ignore[misc]


def test_balanced_platt_assumes_equal_priors_whatever_the_mix() -> None:
    # Fakes outnumber reals 4:1 (as in deepfakes_dev/val); the classes' logits are N(+1, 1) and N(-1, 1), so
    # under equal priors the true P(fake | x) is sigmoid(2x): 0.5 at x = 0.
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(1.0, 1.0, 8000), rng.normal(-1.0, 1.0, 2000)]
    y = np.r_[np.ones(8000), np.zeros(2000)]
    plain, balanced = fit_platt(x, y), fit_platt(x, y, balanced=True)
    at_zero = torch.zeros(1, dtype=torch.float64)
    assert float(plain.apply(at_zero)[0]) == pytest.approx(0.8, abs=0.03)  # the set's prior leaks into P(fake)
    assert float(balanced.apply(at_zero)[0]) == pytest.approx(0.5, abs=0.03)
    assert balanced.scale == pytest.approx(2.0, rel=0.1)
