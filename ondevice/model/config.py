"""The encoder's configuration: a plain dataclass that fully describes a (possibly compressed) model."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ondevice.errors import CheckpointError, ConfigError

SCHEMA_VERSION = 4  # 2 low-rank ranks, 3 Linformer, 4 token skimming and mixed precision; older ones read unchanged
READABLE_VERSIONS = (1, 2, 3, 4)

ACTIVATIONS = ("gelu", "gelu_new", "relu")
POOLINGS = ("cls", "mean")
HEAD_ACTIVATIONS = ("tanh", "relu", "none")
PROJECTIONS = ("query", "key", "value", "output", "up", "down")  # the linears of one block
# Linformer's sharing of its sequence projections: "none" (E and F per head), "headwise" (E and F per
# layer, shared by its heads), "kv" (one matrix per layer for keys and values), "layerwise" (one
# matrix for keys and values of every layer).
LINFORMER_SHARING = ("none", "headwise", "kv", "layerwise")
# Token skimming's keep/skip scores: "learned" (a small MLP per layer, Transkimmer) or "attention"
# (the attention each token received in the layer before, training-free as in length-adaptive transformers).
SKIM_PREDICTORS = ("learned", "attention")
WEIGHT_BITS = (4, 8)  # weight widths of quantized linears that XNNPACK and LiteRT both run


def from_fields(cls, d: dict[str, Any], error: type[Exception], what: str):
    """Build dataclass ``cls`` from ``d``, naming unknown or malformed fields in one ``error`` line."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise error(f"{what} has unknown fields: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return cls(**d)
    except TypeError as e:
        raise error(f"{what} is malformed: {e}") from None


@dataclass
class LayerConfig:
    """Shape of one encoder block; pruning makes these differ between layers."""

    num_heads: int  # attention heads kept; 0 removes the attention sub-layer
    intermediate_size: int  # FFN width kept; 0 removes the FFN sub-layer
    ranks: dict[str, int] = field(default_factory=dict)  # low-rank factorized projections: name -> rank
    linformer_k: int = 0  # > 0: keys and values projected along the sequence to this length (Linformer)
    # > 0: token skimming; the block computes only the top ceil(skim_keep · L) tokens of an input of
    # length L, ranked by the skim predictor, and the others keep their hidden states from here on
    skim_keep: float = 0.0
    # > 0: sign-matching attention (approximate computing); each query attends only to the keys whose
    # signs agree with its own in the most dimensions, this many of them (ties kept)
    sign_match_k: int = 0

    def __post_init__(self) -> None:
        if self.linformer_k < 0:
            raise ConfigError(f"linformer_k must be non-negative, got {self.linformer_k}")
        if self.sign_match_k < 0:
            raise ConfigError(f"sign_match_k must be non-negative, got {self.sign_match_k}")
        if not 0.0 <= self.skim_keep <= 1.0:
            raise ConfigError(f"skim_keep is a share of the tokens in (0, 1], got {self.skim_keep}")
        if self.num_heads < 0 or self.intermediate_size < 0:
            raise ConfigError(
                f"layer shapes must be non-negative, got heads={self.num_heads}, ffn={self.intermediate_size}"
            )
        unknown = sorted(set(self.ranks) - set(PROJECTIONS))
        if unknown:
            raise ConfigError(f"unknown projections {', '.join(unknown)}; ranks apply to {', '.join(PROJECTIONS)}")
        bad = {k: r for k, r in self.ranks.items() if not isinstance(r, int) or r < 1}
        if bad:
            raise ConfigError(f"ranks must be positive integers, got {bad}")


@dataclass
class EncoderConfig:
    """A BERT-family encoder with a sequence-classification head.

    Defaults describe all-MiniLM-L6-v2. Per-layer shapes live in ``layers``; when it is
    left empty it is filled from ``num_layers``, ``num_heads`` and ``intermediate_size``.
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12  # heads of the unpruned model; fixes head_dim
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # 0 for DistilBERT, which has no token types
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    # classification head
    pooling: str = "cls"  # "cls": first token; "mean": masked mean over tokens
    head_activation: str = "tanh"  # dense layer before the classifier: tanh (BERT pooler), relu (DistilBERT), none
    num_labels: int = 2
    dropout: float = 0.1  # hidden and attention dropout, training only
    classifier_dropout: float = 0.1
    architecture: str = "bert"  # where the weights came from: "bert" or "distilbert"
    embedding_rank: int = 0  # > 0: word embeddings factorized as (vocab, r) @ (r, hidden)
    linformer_n: int = 0  # the sequence length Linformer's projections are sized for (inputs may be shorter)
    linformer_sharing: str = "headwise"  # see LINFORMER_SHARING
    skim_predictor: str = "learned"  # see SKIM_PREDICTORS; used by layers with skim_keep > 0
    # Mixed precision: linears (by module name) whose weights int8 export stores with fewer bits,
    # one scale per weight_group_size input features; the others get 8
    weight_bits: dict[str, int] = field(default_factory=dict)
    weight_group_size: int = 32
    layers: list[LayerConfig] = field(default_factory=list)
    head_dim: int = 0  # derived: hidden_size // num_heads

    def __post_init__(self) -> None:
        if self.hidden_size <= 0 or self.num_heads <= 0 or self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be a positive multiple of num_heads ({self.num_heads})"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is not supported; use one of {', '.join(ACTIVATIONS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling {self.pooling!r} is not supported; use one of {', '.join(POOLINGS)}")
        if self.head_activation not in HEAD_ACTIVATIONS:
            raise ConfigError(
                f"head_activation {self.head_activation!r} is not supported; use one of {', '.join(HEAD_ACTIVATIONS)}"
            )
        if self.embedding_rank < 0:
            raise ConfigError(f"embedding_rank must be non-negative, got {self.embedding_rank}")
        if self.num_labels < 2:
            raise ConfigError(f"num_labels must be at least 2, got {self.num_labels}")
        self.head_dim = self.hidden_size // self.num_heads
        self.layers = [LayerConfig(**x) if isinstance(x, dict) else x for x in self.layers]
        if not self.layers:
            self.layers = [LayerConfig(self.num_heads, self.intermediate_size) for _ in range(self.num_layers)]
        if len(self.layers) != self.num_layers:
            raise ConfigError(f"config lists {len(self.layers)} layers but num_layers is {self.num_layers}")
        self._check_linformer()
        if any(layer.linformer_k and layer.sign_match_k for layer in self.layers):
            raise ConfigError("a layer cannot have both Linformer and sign-matching attention")
        self._check_skim()
        bad = {name: b for name, b in self.weight_bits.items() if b not in WEIGHT_BITS}
        if bad:
            raise ConfigError(
                f"weight_bits {bad}: the runtimes run {' and '.join(map(str, WEIGHT_BITS))}-bit weights only"
            )
        if self.weight_group_size < 1:
            raise ConfigError(f"weight_group_size must be positive, got {self.weight_group_size}")

    def _check_linformer(self) -> None:
        ks = {layer.linformer_k for layer in self.layers if layer.linformer_k and layer.num_heads}
        if not ks:
            return
        if self.linformer_sharing not in LINFORMER_SHARING:
            raise ConfigError(
                f"linformer_sharing {self.linformer_sharing!r} is not one of {', '.join(LINFORMER_SHARING)}"
            )
        if not 0 < self.linformer_n <= self.max_position_embeddings:
            raise ConfigError(
                f"linformer_n must be in 1..{self.max_position_embeddings} (the position table), got {self.linformer_n}"
            )
        if max(ks) > self.linformer_n:
            raise ConfigError(f"Linformer k ({max(ks)}) is larger than the sequence length n ({self.linformer_n})")
        if self.linformer_sharing == "layerwise" and len(ks) > 1:
            raise ConfigError(f"layerwise Linformer sharing needs one k for every layer, got {sorted(ks)}")

    def _check_skim(self) -> None:
        keeps = [layer.skim_keep for layer in self.layers]
        first = next((i for i, f in enumerate(keeps) if f), None)
        if first is None:
            return
        if self.skim_predictor not in SKIM_PREDICTORS:
            raise ConfigError(f"skim_predictor {self.skim_predictor!r} is not one of {', '.join(SKIM_PREDICTORS)}")
        tail = keeps[first:]
        # A skimmed token leaves the computation for good, so once a layer skims, every later layer
        # does, keeping no more tokens than the layer before.
        if not all(tail) or any(b > a for a, b in zip(tail, tail[1:], strict=False)):
            raise ConfigError(
                f"skim_keep must be set on every layer from the first skimming one on and must not grow, got {keeps}"
            )
        if any(layer.linformer_k for layer in self.layers):
            raise ConfigError("token skimming cannot be combined with Linformer: its projections are tied to positions")
        if self.skim_predictor == "attention":
            if not any(layer.num_heads for layer in self.layers[:first]):
                raise ConfigError("attention-based skimming needs an attention layer before the first skimming layer")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("head_dim")
        return {"schema_version": SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EncoderConfig":
        d = dict(d)
        version = d.pop("schema_version", None)
        if version not in READABLE_VERSIONS:
            raise CheckpointError(
                f"config schema version {version!r} is not supported "
                f"(this ondevice reads versions {', '.join(map(str, READABLE_VERSIONS))})"
            )
        d.pop("head_dim", None)
        return from_fields(cls, d, CheckpointError, "config")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "EncoderConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is not valid JSON: {e}") from None
