"""Federated learning on the pool engine: FedAvg (FedSGD as its limit), vmapped over clients and over runs.

A *federation* has C clients. Every example n of the dataset belongs to the candidate pool of one client,
``group[n]`` (fixed by the master seed, sizes in proportion to ``client_shares``). A *run* draws each client's data
as a random half of its candidates: the keep matrix ``keep`` [R, N] of :func:`mia_lib.train.balanced_keep` (every
example IN for exactly half of the R runs) says whether example n is in its client's data in run r; an example
that is OUT is held out from every client of that run. So for every (run, example) pair the membership question
"was x_n in the data of its client?" has a clean answer, members and non-members of a client come from the same
candidate pool, and the R runs serve one another as shadow runs (the same leave-one-model-out protocol as a pool).

One round of FedAvg (McMahan et al. 2017) in run r:

1. the server sends the global model θ_t to every client;
2. client c takes ``local_steps`` SGD steps (no momentum, learning rate ``lr``) on its own data: full-batch
   gradient steps when ``batch_size`` is None, else minibatches drawn as :func:`mia_lib.train.batch_schedule`
   draws them; FedSGD is the limit ``local_steps=1``, ``batch_size=None`` (McMahan's E = 1, B = ∞);
3. the client sends its update Δ_{c,t} = θ_{c,t} − θ_t;
4. the server averages: θ_{t+1} = θ_t + Σ_c (n_c / n) Δ_{c,t}, with n_c the client's number of examples.

All R·C client models are stacked and trained at once with ``torch.func.functional_call`` + ``vmap`` (as
:func:`mia_lib.train.train_vmapped` trains a pool); clients of unequal size are padded to the largest with zero
weights. The attacker (an honest-but-curious server) sees every θ_t and Δ_{c,t}; the simulation does not keep the
updates themselves (R·T·C parameter vectors) but, at every round, what the attacks need from them
(:func:`mia_lib.attacks.federated.round_statistics`): the cosine between each example's negative loss gradient at
θ_t and the update of the example's client, the gradient norms, and the global model's loss and correctness on every
example.
:func:`load_or_run` caches these arrays atomically under a hash of the settings.

Randomness: the client groups, the keep matrix, run r's initial weights (``model_seed(seed, r)``) and client
(r, c)'s minibatches all derive from the master seed, so the same settings give bitwise-identical outputs on the
same device.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from . import cache, models, pool, train
from .attacks import federated as fed_attack
from .config import Experiment
from .progress import bar

#: Part of the cache key: bump when the simulation's numerics or outputs change.
SIMULATOR_VERSION = "fedavg-2"
_GROUPS_TAG, _KEEP_TAG, _CLIENT_TAG = 0x67727073, 0x6B656570, 0x636C6E74


@dataclass(frozen=True)
class Federation:
    """Everything that determines a federated simulation's outputs.

    Attributes:
        experiment: the data (``dataset``, ``n_data``, ...), the number of runs (``n_shadow``), the master
            ``seed`` and the ``device`` (not hashed); its model must be ``"mlp"``. Its ``scheduler`` is not used:
            the simulation runs in the calling process.
        client_shares: one share of the examples per client (its candidate pool); they must sum to 1. A client
            holds about half of its candidates in a run.
        hidden: width of the MLP's hidden layer (over-parameterization: the MLP has 75·hidden + 10 weights on
            8×8 digits).
        rounds: communication rounds T; local_steps: SGD steps per client and round (E);
        lr: the clients' learning rate; batch_size: minibatch size of a local step (None: the client's whole
            data, i.e. full-batch steps).

    Used in chapter 10.
    """

    experiment: Experiment
    client_shares: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)
    hidden: int = 256
    rounds: int = 40
    local_steps: int = 5
    lr: float = 0.5
    batch_size: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "client_shares", tuple(float(s) for s in self.client_shares))
        errors = []
        if self.experiment.model != "mlp":
            errors.append(f"the federated simulation trains MLPs; got experiment.model = {self.experiment.model!r}")
        if not self.client_shares or min(self.client_shares) <= 0:
            errors.append(f"client_shares must be positive, got {self.client_shares}")
        elif not math.isclose(sum(self.client_shares), 1.0, abs_tol=1e-9):
            errors.append(f"client_shares must sum to 1, got {sum(self.client_shares)}")
        for name in ("hidden", "rounds", "local_steps"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            errors.append(f"lr must be > 0, got {self.lr}")
        if self.batch_size is not None and self.batch_size < 1:
            errors.append(f"batch_size must be None (full batch) or >= 1, got {self.batch_size}")
        if errors:
            raise ValueError("Invalid Federation: " + "; ".join(errors) + ".")

    @property
    def n_clients(self) -> int:
        return len(self.client_shares)

    @property
    def n_runs(self) -> int:
        return self.experiment.n_shadow

    @property
    def seed(self) -> int:
        return self.experiment.seed

    def to_dict(self) -> dict:
        """All fields as plain JSON values (the experiment as its own dict)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "experiment"}
        return {"experiment": self.experiment.to_dict(), **out, "client_shares": list(self.client_shares)}

    def key(self) -> str:
        """Cache key: ``fed-`` + 16 hex digits of SHA-256 over the experiment's hash, the federated fields and
        :data:`SIMULATOR_VERSION` (the device is not part of it)."""
        fields = {k: v for k, v in self.to_dict().items() if k != "experiment"}
        canonical = json.dumps(
            {"experiment": self.experiment.hash(), "federation": fields, "simulator": SIMULATOR_VERSION},
            sort_keys=True,
            separators=(",", ":"),
        )
        return "fed-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "Federation":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def quick(self) -> "Federation":
        """Smoke mode: the experiment's quick mode (8 runs, 400 examples) and at most 12 rounds of 4 local steps."""
        return self.replace(
            experiment=self.experiment.quick(), rounds=min(self.rounds, 12), local_steps=min(self.local_steps, 4)
        )

    def quick_if(self, flag: bool) -> "Federation":
        """:meth:`quick` when ``flag`` is true, else ``self`` (the notebook's ``quick`` parameter)."""
        return self.quick() if flag else self


@dataclass(eq=False)
class FederatedRun:
    """The attacker's view of R federated runs, as :func:`simulate` records it.

    Attributes:
        fed: the settings. y: int64 [N] labels. group: int64 [N] the client whose candidate x_n is.
        keep: bool [R, N], x_n is in its client's data in run r (OUT: held out from every client).
        cos: float32 [R, T, N] cosine between the update of x_n's client (``group[n]``) in round t and
            −∇ℓ(θ_t; x_n), the direction in which x_n's own gradient step would move that round's global model.
        grad_norm: float32 [R, T, N] ‖∇ℓ(θ_t; x_n)‖; update_norm: float32 [R, T, C] ‖Δ_{c,t}‖.
        loss: float32 [R, T, N] and correct: bool [R, T, N], of the global model θ_t (the one sent in round t).
        final_logits: float32 [R, N, n_classes] of the final global model θ_T.
        n_examples: int64 [R, C] examples of client c in run r. n_params: weights of the model.
        seconds: wall time of the simulation (when it ran, not when it was loaded).

    Used in chapter 10.
    """

    fed: Federation
    y: np.ndarray
    group: np.ndarray
    keep: np.ndarray
    cos: np.ndarray
    grad_norm: np.ndarray
    update_norm: np.ndarray
    loss: np.ndarray
    correct: np.ndarray
    final_logits: np.ndarray
    n_examples: np.ndarray
    n_params: int
    seconds: float

    @property
    def final_correct(self) -> np.ndarray:
        """bool [R, N]: the final global model classifies x_n correctly."""
        return self.final_logits.argmax(-1) == self.y[None, :]

    def test_acc(self) -> np.ndarray:
        """float [R, T]: accuracy of the round's global model on the run's held-out examples."""
        out = ~self.keep[:, None, :]
        return (self.correct & out).sum(-1) / out.sum(-1)

    def train_acc(self) -> np.ndarray:
        """float [R, T]: accuracy of the round's global model on the run's clients' examples."""
        inn = self.keep[:, None, :]
        return (self.correct & inn).sum(-1) / inn.sum(-1)


# --------------------------------------------------------------------------------------------------------------
# Who holds what


def client_groups(n_examples: int, shares, seed: int) -> np.ndarray:
    """The client whose candidate pool each example belongs to: a random partition in proportion to ``shares``.

    Returns:
        group: int64 [N] in ``range(len(shares))``; client c gets round(share_c · N) examples (the last one the
        rest). Depends only on (seed, N, shares). Used in chapter 10.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, _GROUPS_TAG]))
    ends = np.round(np.cumsum(shares) * n_examples).astype(np.int64)
    ends[-1] = n_examples
    group = np.empty(n_examples, dtype=np.int64)
    order = rng.permutation(n_examples)
    start = 0
    for c, end in enumerate(ends):
        group[order[start:end]] = c
        start = end
    return group


def membership(n_runs: int, n_examples: int, seed: int) -> np.ndarray:
    """keep bool [R, N]: x_n is in its client's data in run r; every example IN for exactly R/2 runs
    (:func:`mia_lib.train.balanced_keep` on a seed derived from the master seed). Used in chapter 10."""
    return train.balanced_keep(n_runs, n_examples, train.model_seed(seed, _KEEP_TAG))


def client_keep(keep: np.ndarray, group: np.ndarray, n_clients: int) -> np.ndarray:
    """The data of every client of every run as one mask: bool [R·C, N] (run-major: row r·C + c is client c of
    run r), True where x_n is in that client's data. Used in chapter 10."""
    keep = np.asarray(keep, dtype=bool)
    onehot = group[None, :] == np.arange(n_clients)[:, None]  # [C, N]
    return (keep[:, None, :] & onehot[None]).reshape(-1, keep.shape[1])


def full_batches(shards: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Each client's whole data as one batch, padded to the largest client.

    Args:
        shards: bool [M, N] client data masks (:func:`client_keep`).
    Returns:
        (idx int64 [M, S], weight float32 [M, S]): example indices (padding repeats a client's first example)
        and weights 1/n_m on the client's examples, 0 on padding, so a weighted sum of losses is the client's mean
        loss. Raises ValueError for a client without data. Used in chapter 10.
    """
    shards = np.asarray(shards, dtype=bool)
    sizes = shards.sum(1)
    if (sizes == 0).any():
        raise ValueError("a client has no data in some run; use more examples or fewer clients")
    s = int(sizes.max())
    idx = np.empty((shards.shape[0], s), dtype=np.int64)
    weight = np.zeros((shards.shape[0], s), dtype=np.float32)
    for m, row in enumerate(shards):
        members = np.flatnonzero(row)
        idx[m, : members.size], idx[m, members.size :] = members, members[0]
        weight[m, : members.size] = 1.0 / members.size
    return torch.from_numpy(idx), torch.from_numpy(weight)


def client_seeds(seed: int, n_runs: int, n_clients: int) -> list[int]:
    """Seeds of the R·C clients (run-major), each derived from (master seed, run, client). Used in chapter 10."""
    return [
        train.model_seed(train.model_seed(seed, r), _CLIENT_TAG + c) for r in range(n_runs) for c in range(n_clients)
    ]


def minibatches(shards: np.ndarray, seeds: list[int], n_steps: int, batch_size: int) -> torch.Tensor:
    """The minibatches of ``n_steps`` local steps of every client, drawn as :func:`mia_lib.train.batch_schedule`
    draws a pool's (a fresh permutation of the client's data per pass, topped up to full batches).

    Args:
        shards: bool [M, N] client data masks; seeds: M client seeds (:func:`client_seeds`).
    Returns:
        idx int64 [n_steps, M, B]. Used in chapter 10.
    """
    per_epoch = -(-int(np.asarray(shards).sum(1).max()) // batch_size)
    sched = train.batch_schedule(shards, seeds, -(-n_steps // per_epoch), batch_size)
    return sched.flatten(0, 1)[:n_steps]


def init_models(hidden: int, in_shape: tuple[int, int, int], n_classes: int, seeds: list[int]) -> list[nn.Module]:
    """One freshly initialised :class:`mia_lib.models.MLP` of width ``hidden`` per seed (PyTorch's default init
    under ``torch.manual_seed(seed)``, as :func:`mia_lib.train.init_states`; width 256 gives the same weights as
    its ``"mlp"``). Used in chapter 10."""
    out = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            out.append(models.MLP(in_shape, n_classes, hidden=hidden))
    return out


# --------------------------------------------------------------------------------------------------------------
# FedAvg


def _weighted_loss(base: nn.Module):
    def loss(params, xb, yb, wb):
        out = functional_call(base, params, (xb,))
        return (nn.functional.cross_entropy(out, yb, reduction="none") * wb).sum()

    return loss


def fedavg(
    modules: list[nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    shards: np.ndarray,
    rounds: int,
    local_steps: int,
    lr: float,
    batch_size: int | None = None,
    seeds: list[int] | None = None,
    observe=None,
    dev: torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, torch.Tensor]:
    """Run FedAvg in R independent federations of C clients at once (all R·C client models vmapped).

    Args:
        modules: R initial global models (one per run, :func:`init_models`); not modified.
        X: float32 [N, ...] inputs; y: int64 [N] labels.
        shards: bool [R·C, N] client data (run-major, :func:`client_keep`); C = len(shards) / R.
        rounds, local_steps, lr, batch_size: as in :class:`Federation` (SGD without momentum or weight decay).
        seeds: R·C client seeds for the minibatches (needed when ``batch_size`` is set).
        observe: optional ``f(t, global_params, updates)`` called every round t before aggregation, with the
            global parameters {name: [R, ...]} that the clients started from and their updates {name: [R, C, ...]}.
    Returns:
        the final global parameters {name: [R, ...]} (detached, on ``dev``).

    With one client and one local step per round this is plain SGD on the same batches (a test checks it against
    :func:`mia_lib.train.train_vmapped`). Used in chapter 10.
    """
    dev = dev or train.device()
    r = len(modules)
    shards = np.asarray(shards, dtype=bool)
    m, n = shards.shape
    if m % r:
        raise ValueError(f"{m} client masks for {r} runs: expected a multiple of the number of runs")
    c = m // r
    params, _ = stack_module_state([mod.to(dev) for mod in modules])
    glob = {k: v.detach().clone() for k, v in params.items()}
    base = copy.deepcopy(modules[0]).to("meta")
    step_grad = vmap(grad(_weighted_loss(base)))
    X, y = X.to(dev), y.to(dev)
    sizes = torch.as_tensor(shards.reshape(r, c, n).sum(-1), dtype=torch.float32, device=dev)
    mix = sizes / sizes.sum(1, keepdim=True)  # FedAvg weights n_c / n, [R, C]
    if batch_size is None:
        idx, weight = (t.to(dev) for t in full_batches(shards))
        batches = None
    else:
        if seeds is None or len(seeds) != m:
            raise ValueError("minibatches need one seed per client (client_seeds)")
        batches = minibatches(shards, seeds, rounds * local_steps, batch_size)
        weight = torch.full((m, batch_size), 1.0 / batch_size, device=dev)
    for t in bar(range(rounds), progress, desc="FedAvg", unit="round", leave=False):
        local = {k: v.repeat_interleave(c, dim=0) for k, v in glob.items()}
        for e in range(local_steps):
            if batches is not None:
                idx = batches[t * local_steps + e].to(dev)
            g = step_grad(local, X[idx], y[idx], weight)
            local = {k: local[k] - lr * g[k] for k in local}
        updates = {k: (local[k] - glob[k].repeat_interleave(c, dim=0)).unflatten(0, (r, c)) for k in glob}
        if observe is not None:
            observe(t, glob, updates)
        glob = {k: glob[k] + (mix.view(r, c, *([1] * (v.ndim - 2))) * v).sum(1) for k, v in updates.items()}
    return glob


# --------------------------------------------------------------------------------------------------------------
# The simulation and its cache


@contextlib.contextmanager
def _one_thread(dev: torch.device):
    """On a CPU, torch's intra-op threads pinned to 1 for the block (restored after): every operation of the
    simulation is small (a few hundred examples through a small MLP per model), where starting and synchronizing
    threads costs more than the work (4-6x slower with 2 on the 2-core book machine), and the cached outputs then do
    not depend on the machine's thread count."""
    if dev.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def simulate(fed: Federation, progress: bool | None = None) -> FederatedRun:
    """Run the federation's R runs and record, every round, the statistics the attacks use (on a CPU with one
    torch thread, see :func:`_one_thread`).

    Returns:
        a :class:`FederatedRun`. Used in chapter 10.
    """
    dev = train.device(fed.experiment.device)
    with _one_thread(dev):
        return _simulate(fed, dev, progress)


def _simulate(fed: Federation, dev: torch.device, progress: bool | None) -> FederatedRun:
    t0 = time.perf_counter()
    cfg = fed.experiment
    ds = pool.load_data(cfg)
    n, r, c = len(ds), fed.n_runs, fed.n_clients
    group = client_groups(n, fed.client_shares, fed.seed)
    keep = membership(r, n, fed.seed)
    shards = client_keep(keep, group, c)
    modules = init_models(
        fed.hidden, tuple(ds.X.shape[1:]), ds.n_classes, [train.model_seed(fed.seed, i) for i in range(r)]
    )
    X, y, owner = ds.X.to(dev), ds.y.to(dev), torch.from_numpy(group).to(dev)
    rec = {
        name: np.empty((r, fed.rounds) + shape, dtype=dtype)
        for name, shape, dtype in (
            ("cos", (n,), np.float32),
            ("grad_norm", (n,), np.float32),
            ("loss", (n,), np.float32),
            ("correct", (n,), bool),
            ("update_norm", (c,), np.float32),
        )
    }

    def observe(t, glob, updates):
        stats = fed_attack.round_statistics(glob, updates, X, y, owner)
        for name, value in stats.items():
            rec[name][:, t] = value.cpu().numpy()

    final = fedavg(
        modules,
        ds.X,
        ds.y,
        shards,
        fed.rounds,
        fed.local_steps,
        fed.lr,
        fed.batch_size,
        client_seeds(fed.seed, r, c),
        observe,
        dev,
        progress,
    )
    final_logits = train.predict_vmapped(modules[0], final, {}, ds.X).squeeze(2).numpy()
    return FederatedRun(
        fed=fed,
        y=ds.y.numpy(),
        group=group,
        keep=keep,
        final_logits=final_logits,
        n_examples=shards.reshape(r, c, n).sum(-1).astype(np.int64),
        n_params=int(sum(p.numel() for p in modules[0].parameters())),
        seconds=time.perf_counter() - t0,
        **rec,
    )


_ARRAYS = ("y", "group", "keep", "cos", "grad_norm", "update_norm", "loss", "correct", "final_logits", "n_examples")


def load_or_run(fed: Federation, store: str | Path | None = None, progress: bool | None = None) -> FederatedRun:
    """The simulation of ``fed`` from the cache (``<store>/<fed.key()>/run.npz``, checksum-verified), running and
    saving it (atomically, then its checksum file) when it is missing or corrupt.

    Returns:
        a :class:`FederatedRun`; a second call with the same settings reads it back bitwise-identical.
        Used in chapter 10.
    """
    folder = cache.entry(fed.key(), store)
    path, check = folder / "run.npz", folder / "run.json"
    record, problems = cache.verify_checksums(check)
    if record is not None and not problems:
        arrays = cache.load_arrays(path)
        return FederatedRun(fed=fed, n_params=int(record["n_params"]), seconds=float(record["seconds"]), **arrays)
    if problems:
        cache.warn_corrupt(cache.quarantine([p for p in (path, check) if p.exists()], "; ".join(problems)))
    run = simulate(fed, progress)
    cache.save_json(folder / "config.json", fed.to_dict())
    cache.save_arrays(path, **{name: getattr(run, name) for name in _ARRAYS})
    cache.write_checksums(check, [path], n_params=run.n_params, seconds=run.seconds)
    return run
