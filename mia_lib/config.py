"""Experiment configuration: one frozen dataclass per pool of shadow models.

An :class:`Experiment` says *what* is trained (data, model, recipe, pool size, seed). Its :meth:`Experiment.hash`
keys the on-disk cache, so two notebooks asking for the same pool share one training run. *Where* it runs (the
device) and *how it is reported* (progress bars) are not part of the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

MODELS = ("mlp", "cnn32", "cnn64", "resnet9", "resnet18")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class Experiment:
    """Everything that determines a shadow pool's contents.

    Attributes:
        dataset: a name from :data:`mia_lib.data.SOURCES` (the over-represented group in a mixture).
        under: optional under-represented source mixed into ``dataset`` (``None``: a single dataset).
        n_under: size of the under-represented group (used only with ``under``).
        n_data: number of examples taken from ``dataset`` (``None``: all of it, or 4,000 in a mixture).
        data_dir: folder holding torchvision-format data (MNIST, SVHN, CIFAR); never downloaded.
        model: one of :data:`MODELS`.
        n_shadow: models in the pool (even; each example is IN for exactly half of them).
        epochs, batch_size, lr, momentum, weight_decay, optimizer: the training recipe.
        n_queries: query views per example when collecting logits (1 = the image only; more adds shifts and, for
            flippable data, flips — useful when the models were trained with those augmentations).
        shard_size: models trained together in one vmapped call and cached as one file.
        save_params: also cache the stacked parameters of every model (white-box attacks need them).
        seed: master seed; every random choice derives from it.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; not part of the hash.

    Used in chapters 1, 2, 3, 4, 5, 6, 7.
    """

    dataset: str = "digits"
    under: str | None = None
    n_under: int = 0
    n_data: int | None = None
    data_dir: str | None = None
    model: str = "mlp"
    n_shadow: int = 128
    epochs: int = 40
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    n_queries: int = 1
    shard_size: int = 64
    save_params: bool = False
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        errors = []
        if self.model not in MODELS:
            errors.append(f"model must be one of {MODELS}, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            errors.append(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.n_shadow < 2 or self.n_shadow % 2:
            errors.append(f"n_shadow must be an even number >= 2 (each example is IN for half), got {self.n_shadow}")
        for name in ("epochs", "batch_size", "n_queries", "shard_size"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            errors.append(f"lr must be > 0, got {self.lr}")
        if self.under is not None and self.n_under < 1:
            errors.append("n_under must be >= 1 when an under-represented source is given")
        if self.device not in ("auto", "cpu", "cuda"):
            errors.append(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if errors:
            raise ValueError("Invalid Experiment: " + "; ".join(errors) + ".")

    def to_dict(self) -> dict:
        """All fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """16-hex-digit SHA-256 of the canonical JSON of every field that changes results (not ``device``)."""
        fields = {k: v for k, v in self.to_dict().items() if k != "device"}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "Experiment":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def quick(self) -> "Experiment":
        """CI smoke mode: few models, few epochs, little data. Keeps the dataset and model kind."""
        return self.replace(
            n_shadow=min(self.n_shadow, 8),
            epochs=min(self.epochs, 3),
            n_data=min(self.n_data or 400, 400),
            n_under=min(self.n_under, 40) if self.under else self.n_under,
            n_queries=min(self.n_queries, 2),
            shard_size=min(self.shard_size, 8),
        )

    def quick_if(self, flag: bool) -> "Experiment":
        """:meth:`quick` when ``flag`` is true, else ``self`` (the notebooks' ``quick`` parameter)."""
        return self.quick() if flag else self
