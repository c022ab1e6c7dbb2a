"""Low-Rank Transformer factorization (Greenformers): W ≈ B·A from a truncated SVD of the trained weight.

A Linear (out, in) becomes in→r (no bias) then r→out (with the bias). It saves parameters and FLOPs
only below the break-even rank in·out/(in+out); layers whose chosen rank would not save anything
stay dense and are reported. The rank is given per layer (an integer, a fraction of break-even, a
share of singular-value energy kept) or for the whole model from a parameter budget, spread across
layers by singular-value energy. The word-embedding table can be factorized the same way.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import torch
from torch import nn

from ondevice.compress import technique
from ondevice.errors import ConfigError
from ondevice.model.config import PROJECTIONS
from ondevice.model.encoder import FactorizedEmbedding, LowRankLinear


@dataclass
class LowRankConfig:
    """Exactly one of ``rank``, ``rank_fraction``, ``energy`` or ``param_budget`` chooses the ranks."""

    rank: int | None = None  # the same rank for every targeted layer
    rank_fraction: float | None = None  # of each layer's break-even rank in·out/(in+out)
    energy: float | None = None  # share of squared singular values kept, per layer
    param_budget: float | None = None  # share of the targeted layers' parameters kept, whole model
    projections: list[str] = field(default_factory=lambda: list(PROJECTIONS))
    layers: list[int] | None = None  # block indices; None: all
    embedding_rank: int = 0  # > 0: also factorize the word-embedding table at this rank
    multiple_of: int = 8  # ranks rounded up to this (vector kernels like multiples of 8)

    def __post_init__(self) -> None:
        chosen = [n for n in ("rank", "rank_fraction", "energy", "param_budget") if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise ConfigError(f"low-rank: give one of rank, rank_fraction, energy, param_budget (got {chosen})")
        if not chosen and not self.embedding_rank:
            raise ConfigError("low-rank: give rank, rank_fraction, energy or param_budget (or embedding_rank)")
        if self.rank is not None and self.rank < 1:
            raise ConfigError(f"low-rank: rank must be at least 1, got {self.rank}")
        for name in ("rank_fraction", "energy", "param_budget"):
            v = getattr(self, name)
            if v is not None and not 0 < v <= 1:
                raise ConfigError(f"low-rank: {name} must be in (0, 1], got {v}")
        unknown = sorted(set(self.projections) - set(PROJECTIONS))
        if unknown:
            raise ConfigError(f"low-rank: unknown projections {unknown}; choose from {', '.join(PROJECTIONS)}")
        if self.embedding_rank < 0 or self.multiple_of < 1:
            raise ConfigError("low-rank: embedding_rank must be >= 0 and multiple_of >= 1")


def break_even_rank(in_features: int, out_features: int) -> float:
    """The rank at which r·(in+out) parameters equal in·out: factorizing saves only below it."""
    return in_features * out_features / (in_features + out_features)


def svd_factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Truncated SVD of ``weight`` (out, in) as B (out, r) and A (r, in) with B·A the best rank-r fit.

    The singular values are split evenly (√S on each side) so both factors have similar ranges,
    which keeps per-channel int8 quantization of either one accurate. Also returns all singular values.
    """
    U, S, Vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    root = S[:rank].sqrt()
    B = (U[:, :rank] * root).to(weight.dtype)  # (out, r)
    A = (root[:, None] * Vh[:rank]).to(weight.dtype)  # (r, in)
    return B, A, S.to(torch.float32)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest rank whose squared singular values hold at least ``energy`` of the total."""
    e = singular_values.double().square()
    kept = torch.cumsum(e, 0) / e.sum()
    return int(torch.searchsorted(kept, torch.tensor(energy, dtype=kept.dtype) - 1e-12).item()) + 1


def allocate_ranks(spectra: dict[str, torch.Tensor], shapes: dict[str, tuple[int, int]], budget: int) -> dict[str, int]:
    """Ranks per layer under a parameter budget, spread by singular-value energy.

    Greedy over every singular value of every layer, best first by its share of its layer's energy
    per parameter it costs (in+out). A layer whose rank reaches break-even costs in·out at most (it
    stays dense), so further singular values of that layer are free. Returns rank 0 for a layer that
    gets nothing; the caller keeps a layer dense when its rank is at or above break-even.

    Args:
        spectra: layer name -> singular values (descending).
        shapes: layer name -> (in_features, out_features).
        budget: parameters allowed for all these layers together.
    """

    def cost(name: str, r: int) -> int:
        i, o = shapes[name]
        return min(r * (i + o), i * o)

    ranks = {name: 0 for name in spectra}
    total = 0
    heap = []  # (-gain per parameter, layer, index of its next singular value)
    shares = {}
    for name, s in spectra.items():
        e = s.double().square()
        shares[name] = (e / e.sum()).tolist()
        i, o = shapes[name]
        heapq.heappush(heap, (-shares[name][0] / (i + o), name, 0))
    while heap:
        _, name, k = heapq.heappop(heap)
        step = cost(name, k + 1) - cost(name, k)
        if total + step > budget:
            continue  # this layer's next singular value does not fit; smaller steps of others may
        total += step
        ranks[name] = k + 1
        if k + 1 < len(shares[name]):
            i, o = shapes[name]
            heapq.heappush(heap, (-shares[name][k + 1] / (i + o), name, k + 1))
    return ranks


def _round_up(r: int, multiple: int) -> int:
    return -(-r // multiple) * multiple


def _targets(model, cfg: LowRankConfig) -> dict[str, nn.Linear]:
    layers = range(len(model.blocks)) if cfg.layers is None else cfg.layers
    out = {}
    for i in layers:
        if not 0 <= i < len(model.blocks):
            raise ConfigError(f"low-rank: layer {i} does not exist (the model has {len(model.blocks)})")
        block = model.blocks[i]
        for proj in cfg.projections:
            parent = block.attention if proj in ("query", "key", "value", "output") else block.ffn
            if parent is None:
                continue
            m = getattr(parent, proj)  # None: a gate in a plain FFN
            if isinstance(m, nn.Linear):  # already factorized layers are left as they are
                out[f"{i}.{proj}"] = m
    return out


@torch.no_grad()
def factorize_linear(linear: nn.Linear, rank: int) -> LowRankLinear:
    B, A, _ = svd_factors(linear.weight, rank)
    lr = LowRankLinear(linear.in_features, linear.out_features, rank, bias=linear.bias is not None)
    lr.reduce.weight.copy_(A)
    lr.expand.weight.copy_(B)
    if linear.bias is not None:
        lr.expand.bias.copy_(linear.bias)
    return lr


@torch.no_grad()
def factorize_embedding(model, rank: int) -> dict:
    word = model.embeddings.word
    if not isinstance(word, nn.Embedding):
        raise ConfigError("low-rank: the word embeddings are already factorized")
    vocab, hidden = word.weight.shape
    if rank >= break_even_rank(vocab, hidden):
        raise ConfigError(f"low-rank: embedding_rank {rank} saves nothing for a {vocab}x{hidden} table")
    # weight.T is (hidden, vocab) = B·A with B (hidden, r), A (r, vocab): the table is A.T, the projection B.
    B, A, S = svd_factors(word.weight.T, rank)
    fe = FactorizedEmbedding(vocab, hidden, rank)
    fe.table.weight.copy_(A.T)
    fe.project.weight.copy_(B)
    model.embeddings.word = fe
    model.config.embedding_rank = rank
    e = S.double().square()
    return {"rank": rank, "energy_kept": float(e[:rank].sum() / e.sum()), "parameters": (vocab + hidden) * rank}


@technique(LowRankConfig, "lowrank")
def apply_lowrank(model, cfg: LowRankConfig, **_) -> dict:
    """Factorize the targeted linears in place; records the ranks in ``model.config``."""
    targets = _targets(model, cfg)
    spectra = {name: torch.linalg.svdvals(m.weight.detach().double()).float() for name, m in targets.items()}
    shapes = {name: (m.in_features, m.out_features) for name, m in targets.items()}
    if cfg.rank is not None:
        ranks = {n: cfg.rank for n in targets}
    elif cfg.rank_fraction is not None:
        ranks = {n: max(1, round(cfg.rank_fraction * break_even_rank(*shapes[n]))) for n in targets}
    elif cfg.energy is not None:
        ranks = {n: rank_for_energy(spectra[n], cfg.energy) for n in targets}
    elif cfg.param_budget is not None:
        total = sum(i * o for i, o in shapes.values())
        ranks = allocate_ranks(spectra, shapes, int(cfg.param_budget * total))
    else:
        ranks = {}
    report = {"factorized": {}, "left_dense": {}, "embedding": None}
    for name, r in ranks.items():
        r = _round_up(max(r, 1), cfg.multiple_of)
        i, o = shapes[name]
        if r >= break_even_rank(i, o):
            report["left_dense"][name] = {"rank": r, "break_even": round(break_even_rank(i, o), 1)}
            continue
        layer, proj = name.split(".")
        block = model.blocks[int(layer)]
        parent = block.attention if proj in ("query", "key", "value", "output") else block.ffn
        setattr(parent, proj, factorize_linear(getattr(parent, proj), r))
        model.config.layers[int(layer)].ranks[proj] = r
        e = spectra[name].double().square()
        report["factorized"][name] = {"rank": r, "energy_kept": round(float(e[:r].sum() / e.sum()), 4)}
    if cfg.embedding_rank:
        report["embedding"] = factorize_embedding(model, cfg.embedding_rank)
    return report
