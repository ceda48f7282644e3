"""Individualized DP-SGD on Opacus: per-sample gradients proven, per-class sampling, the run's ledger."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from opacus import GradSampleModule  # noqa: E402
from torch import nn  # noqa: E402

from appliance import classify  # noqa: E402
from training.privacy.accounting import PrivacyError  # noqa: E402
from training.privacy.dpsgd import DEFAULT_TARGETS, DPConfig, PoissonGroupSampler, train_private  # noqa: E402
from training.privacy.ledger import recompute  # noqa: E402


class Tiny(nn.Module):
    """Every trainable module type the project's DP models use: Conv2d, LayerNorm, Embedding, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.LayerNorm(3 * 4 * 4)
        self.embed = nn.Embedding(5, 4)
        self.head = nn.Linear(3 * 4 * 4 + 4, 2)

    def forward(self, image: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        x = self.norm(torch.relu(self.conv(image)).flatten(1))
        return self.head(torch.cat([x, self.embed(token)], dim=1))


def test_opacus_per_sample_gradients_equal_a_per_example_loop() -> None:
    torch.manual_seed(0)
    model = Tiny()
    images, tokens, labels = torch.randn(6, 1, 4, 4), torch.tensor([0, 1, 2, 3, 4, 1]), torch.tensor([0, 1, 1, 0, 1, 0])
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    expected = []
    for i in range(6):
        model.zero_grad()
        loss_fn(model(images[i : i + 1], tokens[i : i + 1]), labels[i : i + 1]).backward()
        expected.append({n: p.grad.detach().clone() for n, p in model.named_parameters()})
    gsm = GradSampleModule(model, loss_reduction="sum")
    gsm.zero_grad()
    loss_fn(gsm(images, tokens), labels).backward()
    for name, param in model.named_parameters():
        for i in range(6):
            torch.testing.assert_close(param.grad_sample[i], expected[i][name], rtol=1e-5, atol=1e-6)
    gsm._close()


def test_the_default_targets_are_the_appliances_privacy_classes() -> None:
    classes = [classify.HEAD_CT, classify.BREAST_MRI, classify.ABDOMEN_CT, classify.CHEST_CT]
    classes += [classify.CHEST_XRAY, classify.HAND_XRAY]
    assert dict(DEFAULT_TARGETS) == {c.name: c.epsilon for c in classes}


def test_poisson_sampling_uses_each_groups_rate() -> None:
    group_of = [0] * 2000 + [1] * 2000
    sampler = PoissonGroupSampler(group_of, [0.02, 0.2], seed=3)
    counts = np.zeros(2)
    for _ in range(200):
        batch = sampler.sample()
        counts += [np.sum(batch < 2000), np.sum(batch >= 2000)]
    assert counts[0] / (200 * 2000) == pytest.approx(0.02, rel=0.1)
    assert counts[1] / (200 * 2000) == pytest.approx(0.2, rel=0.05)


def _task(n_per_class: tuple[int, int, int] = (300, 200, 100)) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    rng = np.random.default_rng(0)
    n = sum(n_per_class)
    x = torch.from_numpy(rng.normal(size=(n, 8)).astype(np.float32))
    y = torch.from_numpy((x.numpy() @ rng.normal(size=8) > 0).astype(np.int64))
    classes = ["Chest X-ray"] * n_per_class[0] + ["Chest CT"] * n_per_class[1] + ["Head CT"] * n_per_class[2]
    return x, y, classes


def _model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 2))


def test_a_private_run_learns_spends_each_class_within_budget_and_recomputes() -> None:
    x, y, classes = _task()
    model = _model()
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    before = float(loss_fn(model(x), y).mean())
    ledger = train_private(
        model,
        lambda m, idx: loss_fn(m(x[idx]), y[idx]),
        classes,
        DPConfig(steps=60, noise_multiplier=1.0, accountant="rdp", learning_rate=0.5),
        public_pretraining="none",
    )
    after = float(loss_fn(model(x), y).mean())
    assert after < 0.8 * before
    doc = ledger.document()
    assert doc["steps"] == 60 and doc["non_private_steps_on_private_data"] == 0
    by_class = {g["class"]: g for g in doc["groups"]}
    assert set(by_class) == {"Chest X-ray", "Chest CT", "Head CT"}
    assert (
        by_class["Head CT"]["sample_rate"]
        < by_class["Chest CT"]["sample_rate"]
        < by_class["Chest X-ray"]["sample_rate"]
    )
    for name, eps in recompute(doc).items():
        assert eps == pytest.approx(by_class[name]["epsilon"], rel=1e-6)
        assert eps <= DEFAULT_TARGETS[name]


def test_empty_poisson_batches_are_steps_too() -> None:
    x, y, classes = _task((3, 0, 2))
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    calls: list[int] = []

    def loss(m: nn.Module, idx: np.ndarray) -> torch.Tensor:
        calls.append(len(idx))
        return loss_fn(m(x[idx]), y[idx])

    model = _model()
    weights = [p.detach().clone() for p in model.parameters()]
    ledger = train_private(model, loss, classes, DPConfig(steps=20, noise_multiplier=2.0, accountant="rdp"))
    assert ledger.steps == 20 and len(calls) < 20 and all(calls)
    assert any(not torch.equal(w, p) for w, p in zip(weights, model.parameters(), strict=True))  # noise moved it


def test_a_class_without_a_budget_is_refused_before_any_step() -> None:
    x, y, _ = _task()
    model = _model()
    with pytest.raises(PrivacyError, match="Knee MRI"):
        train_private(model, lambda m, i: m(x[i]).sum(1), ["Knee MRI"] * len(x), DPConfig(steps=3))


def test_batchnorm_is_refused() -> None:
    model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    x, _, classes = _task()
    with pytest.raises(PrivacyError, match="Opacus"):
        train_private(model, lambda m, i: m(x[i]).sum(1), classes, DPConfig(steps=3))
