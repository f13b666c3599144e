"""Experiment configuration: one frozen dataclass per pool of shadow models.

An :class:`Experiment` says *what* is trained (data, model, recipe, pool size, seed). Its :meth:`Experiment.hash`
keys the on-disk cache, so two notebooks asking for the same pool share one training run. *Where* it runs (the
device, the Dask scheduler that trains its shards) and *how it is reported* (progress bars) are not part of the hash
(:data:`NOT_HASHED`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

MODELS = ("mlp", "cnn32", "cnn64", "resnet9", "resnet18")
OPTIMIZERS = ("sgd", "adam")
#: Arithmetic of the pool trainer: plain float32, TF32 matrix products on CUDA GPUs, or bfloat16 autocast.
PRECISIONS = ("fp32", "tf32", "bf16")
#: Fields that say where or how a pool is trained, not what it contains: left out of :meth:`Experiment.hash`.
NOT_HASHED = ("device", "scheduler")
#: Fields added after pools were first cached, with the default that reproduces those pools: a field enters
#: :meth:`Experiment.hash` only when it differs from that default, so existing cache entries keep their keys.
#: The training-time defenses of :mod:`mia_lib.regularization` (chapter 8), with the value that turns each off.
DEFENSES = {"label_smoothing": 0.0, "dropout": 0.0, "mixup_alpha": 0.0, "mmd_weight": 0.0}
HASHED_WHEN_SET = {"precision": "fp32", **DEFENSES}
#: Architectures with a dropout layer before their classifier (:func:`mia_lib.models.features_width`).
DROPOUT_MODELS = ("mlp", "cnn32", "cnn64")
#: Version of the pool trainer's arithmetic, part of every hash: bumped when a change to the trainer changes the
#: trained weights (2: MLPs on stacked parameters without vmap, fused SGD), so that no cache entry written by an
#: older trainer is read as if this one had trained it.
TRAINER_VERSION = 2
_LOCAL = re.compile(r"^local(?::(\d+))?$")
_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://\S+$")


def scheduler_kind(scheduler: str) -> tuple[str, int | str | None]:
    """What a ``scheduler`` value means: ``("local", N)`` for ``"local:N"`` (``("local", None)`` for ``"local"``:
    one worker per GPU, else per CPU core) or ``("address", scheduler)`` for ``"tcp://host:8786"`` and the other
    Dask protocols. Raises ValueError for anything else."""
    m = _LOCAL.match(scheduler) if isinstance(scheduler, str) else None
    if m:
        n = None if m.group(1) is None else int(m.group(1))
        if n is not None and n < 1:
            raise ValueError(f"scheduler 'local:N' needs N >= 1, got {scheduler!r}")
        return "local", n
    if isinstance(scheduler, str) and _ADDRESS.match(scheduler):
        return "address", scheduler
    raise ValueError(
        f"scheduler must be None (train in this process), 'local:N' (N worker processes on this machine) or a Dask "
        f"scheduler address such as 'tcp://host:8786', got {scheduler!r}"
    )


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
        precision: the trainer's arithmetic, one of :data:`PRECISIONS`: ``"fp32"``; ``"tf32"`` (TF32 matrix
            products and convolutions on CUDA GPUs; on a CPU the same as fp32); ``"bf16"`` (bfloat16 autocast).
            It changes the numbers, so it is part of the hash; logits are always collected in float32.
        label_smoothing: cross-entropy against (1 − s)·one-hot + s/C instead of the one-hot label (0: off).
        dropout: probability of zeroing each input of the classifier layer while training (``mlp``, ``cnn32``,
            ``cnn64``; 0: off); the masks come from each model's own seed.
        mixup_alpha: mix-up (Zhang et al.): each step trains on λ·x + (1 − λ)·x[π] against the same mixture of
            the labels, λ ~ Beta(α, α) and the pairing π drawn per model and step (0: off).
        mmd_weight: weight of the MMD penalty (Li, Li & Ribeiro 2021) between the model's softmax outputs on its
            training batch and on a class-matched batch of the defender's held-out reference set
            (:func:`mia_lib.regularization.reference_set`; 0: off).
        scheduler: who trains the missing shards (:mod:`mia_lib.distributed`): ``None`` this process, one after
            the other; ``"local:N"`` a Dask ``LocalCluster`` of N worker processes on this machine (one thread each,
            one GPU each when there are GPUs); ``"tcp://host:8786"`` an existing Dask cluster. Not part of the hash:
            every choice gives bitwise-identical pools.

    Used in chapters 1–10.
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
    scheduler: str | None = None
    precision: str = "fp32"
    label_smoothing: float = 0.0
    dropout: float = 0.0
    mixup_alpha: float = 0.0
    mmd_weight: float = 0.0

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
        if self.precision not in PRECISIONS:
            errors.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("label_smoothing", "dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                errors.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("mixup_alpha", "mmd_weight"):
            if getattr(self, name) < 0:
                errors.append(f"{name} must be >= 0 (0 turns it off), got {getattr(self, name)}")
        if self.dropout > 0 and self.model not in DROPOUT_MODELS:
            errors.append(f"dropout is available for the models {DROPOUT_MODELS}, not {self.model!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            errors.append(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.scheduler is not None:
            try:
                scheduler_kind(self.scheduler)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("Invalid Experiment: " + "; ".join(errors) + ".")

    def to_dict(self) -> dict:
        """All fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """16-hex-digit SHA-256 of the canonical JSON of every field that changes results (not :data:`NOT_HASHED`;
        :data:`HASHED_WHEN_SET` fields only when not at their default), and :data:`TRAINER_VERSION`."""
        fields = {k: v for k, v in self.to_dict().items() if k not in NOT_HASHED}
        fields = {k: v for k, v in fields.items() if k not in HASHED_WHEN_SET or v != HASHED_WHEN_SET[k]}
        fields["trainer"] = TRAINER_VERSION
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def defenses(self) -> dict:
        """The training-time defenses that are on: {field: value} for the :data:`DEFENSES` not at their off value."""
        return {k: getattr(self, k) for k, off in DEFENSES.items() if getattr(self, k) != off}

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
