"""The encoder's configuration: a plain dataclass that fully describes a (possibly compressed) model."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ondevice.errors import CheckpointError, ConfigError

# 2 low-rank ranks, 3 Linformer, 4 token skimming and mixed precision, 5 RoBERTa positions and ELECTRA
# embeddings, 6 ALBERT's shared layers, ModernBERT's block (pre-norm, rotary positions, gated FFN, local
# attention windows, no biases), MobileBERT's (bottlenecks, NoNorm, stacked FFNs, trigram input), DeBERTa's
# relative positions, and problem_type and thresholds (multi-label); older ones read unchanged (a field
# they lack takes its default, which is what they meant)
SCHEMA_VERSION = 6
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)

ACTIVATIONS = ("gelu", "gelu_new", "relu")
POOLINGS = ("cls", "mean")
HEAD_ACTIVATIONS = ("tanh", "relu", "gelu", "none")
# the linears of one block; "gate" only in a gated FFN
PROJECTIONS = ("query", "key", "value", "output", "up", "gate", "down")
# Where each block normalizes: "post" after each residual sum (BERT), "pre" before each sub-layer with
# one final norm after the last block (ModernBERT).
NORM_PLACEMENTS = ("post", "pre")
# How tokens know their place: "absolute" (a learned table added to the embeddings), "rotary" (queries
# and keys rotated by their position in every layer, ModernBERT) or "relative" (DeBERTa's disentangled
# attention: scores between each token's content and the other's relative distance, from a table of
# distances shared by every layer).
POSITION_KINDS = ("absolute", "rotary", "relative")
# "plain": down(act(up(x))); "gated": down(act(up(x)) * gate(x)) (ModernBERT's GeGLU).
FFN_KINDS = ("plain", "gated")
# "layer_norm"; "no_norm": MobileBERT's NoNorm, an elementwise scale and shift without normalizing.
NORM_KINDS = ("layer_norm", "no_norm")
# Linformer's sharing of its sequence projections: "none" (E and F per head), "headwise" (E and F per
# layer, shared by its heads), "kv" (one matrix per layer for keys and values), "layerwise" (one
# matrix for keys and values of every layer).
LINFORMER_SHARING = ("none", "headwise", "kv", "layerwise")
# Token skimming's keep/skip scores: "learned" (a small MLP per layer, Transkimmer) or "attention"
# (the attention each token received in the layer before, training-free as in length-adaptive transformers).
SKIM_PREDICTORS = ("learned", "attention")
SKIM_INNER = 64  # width of a learned skim predictor's hidden layer
WEIGHT_BITS = (4, 8)  # weight widths of quantized linears that XNNPACK and LiteRT both run
# Where the weights came from (each has its own key map in ondevice.model.hf); DistilRoBERTa is a "roberta".
ARCHITECTURES = (
    "bert",
    "distilbert",
    "roberta",
    "xlm-roberta",
    "camembert",
    "electra",
    "albert",
    "modernbert",
    "mobilebert",
    "deberta-v2",
)
# One label per text (softmax over the labels), or any number of them (a sigmoid per label, each
# compared with its own threshold): Hugging Face's names, as its config.json writes them.
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL)

# Bounds that keep an absurd config.json from allocating terabytes, or from building millions of
# modules, before its weights are even read. BERT-large has 24 layers and 335M weights; 2^31 weights
# are 8.6 GB in fp32, more than any exporter here writes or a phone holds.
MAX_LAYERS = 1024
MAX_PARAMETERS = 2**31

# How each scalar field is checked: integers by their smallest value, reals by (lowest, highest,
# whether lowest itself is excluded), strings by their choices.
INT_FIELDS = {
    "vocab_size": 1,
    "hidden_size": 1,
    "num_layers": 1,
    "num_heads": 1,
    "intermediate_size": 1,
    "max_position_embeddings": 1,
    "type_vocab_size": 0,
    "pad_token_id": 0,
    "num_labels": 2,
    "embedding_rank": 0,
    "linformer_n": 0,
    "weight_group_size": 1,
    "position_offset": 0,
    "embedding_size": 0,
    "layer_groups": 0,
    "bottleneck_size": 0,
    "ffn_stack": 1,
    "relative_buckets": 0,
    "max_relative_positions": 0,
}
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "num_labels")
REAL_FIELDS = {
    "layer_norm_eps": (0.0, 1.0, True),
    "dropout": (0.0, 1.0, False),
    "classifier_dropout": (0.0, 1.0, False),
    "rotary_theta": (0.0, 1e12, True),
    "local_rotary_theta": (0.0, 1e12, True),
}
TEXT_FIELDS = {
    "hidden_act": ACTIVATIONS,
    "pooling": POOLINGS,
    "head_activation": HEAD_ACTIVATIONS,
    "architecture": ARCHITECTURES,
    "linformer_sharing": LINFORMER_SHARING,
    "skim_predictor": SKIM_PREDICTORS,
    "norm_placement": NORM_PLACEMENTS,
    "position_kind": POSITION_KINDS,
    "ffn_kind": FFN_KINDS,
    "norm_kind": NORM_KINDS,
    "problem_type": PROBLEM_TYPES,
}
BOOL_FIELDS = ("bias", "norm_bias", "head_bias", "head_norm", "trigram_input")


def _shown(value: Any) -> str:
    """A value as it is written in the JSON it came from (true, NaN, "12"), cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(name: str, value: Any, lowest: int = 0, highest: int | None = None) -> int:
    """``value`` if it is an integer in [lowest, highest]; else a ConfigError naming ``name``.

    JSON gives ``true``, ``1.5``, ``"12"`` and ``NaN`` as easily as ``12``; none of them is a size.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {_shown(value)}")
    if value < lowest:
        raise ConfigError(f"{name} must be at least {lowest}, got {value}")
    if highest is not None and value > highest:
        raise ConfigError(f"{name} must be at most {highest}, got {value}")
    return int(value)


def check_real(name: str, value: Any, lowest: float, highest: float, exclude_lowest: bool = False) -> float:
    """``value`` if it is a finite number in its range; else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {_shown(value)}")
    if value < lowest or value > highest or (exclude_lowest and value == lowest):
        interval = f"{'(' if exclude_lowest else '['}{lowest:g}, {highest:g}]"
        raise ConfigError(f"{name} must be in {interval}, got {value}")
    return value


def check_field(field_name: str, value: Any, label: str | None = None) -> Any:
    """Check one scalar ``EncoderConfig`` field by its rule; ``label`` names it in the message (an
    imported checkpoint's own name for it, e.g. ``num_hidden_layers``)."""
    label = label or field_name
    if field_name in INT_FIELDS:
        highest = MAX_LAYERS if field_name == "num_layers" else None
        return check_int(label, value, INT_FIELDS[field_name], highest)
    if field_name in REAL_FIELDS:
        return check_real(label, value, *REAL_FIELDS[field_name])
    if field_name in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false, got {_shown(value)}")
        return value
    choices = TEXT_FIELDS[field_name]
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{label} {_shown(value)} is not supported; use one of {', '.join(choices)}")
    return value


def _linear_parameters(n_in: int, n_out: int, rank: int = 0, bias: bool = True) -> int:
    """Weights (and bias) of ``encoder.linear``: dense, or factorized through ``rank``."""
    return (n_in * rank + rank * n_out if rank else n_in * n_out) + (n_out if bias else 0)


def from_fields(cls, d: dict[str, Any], error: type[Exception], what: str):
    """Build dataclass ``cls`` from ``d``, naming unknown or malformed fields in one ``error`` line."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise error(f"{what} has unknown fields: {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    for name, value in d.items():  # a value of another kind than the field's default, named before use
        expected = _kind_of(fields[name].default)
        if expected and not _is_kind(value, expected):
            raise error(f"{what}: {name} must be {expected}, not {value!r:.40}")
    try:
        return cls(**d)
    except TypeError as e:
        raise error(f"{what} is malformed: {e}") from None


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _kind_of(default: Any) -> str | None:
    """What a field takes, judged by its scalar default (None: no default, or not a scalar)."""
    return _KINDS.get(type(default))


def _is_kind(value: Any, kind: str) -> bool:
    if kind == _KINDS[bool] or isinstance(value, bool):
        return kind == _KINDS[bool] and isinstance(value, bool)
    if kind == _KINDS[float]:
        return isinstance(value, (int, float))
    return isinstance(value, {_KINDS[int]: int, _KINDS[str]: str}[kind])


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
    # > 0: local attention (ModernBERT's sliding window); each token attends only to the tokens at most
    # this many positions away. 0: global attention.
    window: int = 0

    def __post_init__(self) -> None:
        for name in ("num_heads", "intermediate_size", "linformer_k", "sign_match_k", "window"):
            check_int(name, getattr(self, name), 0)
        check_real("skim_keep", self.skim_keep, 0.0, 1.0)
        if not isinstance(self.ranks, dict):
            raise ConfigError(f"ranks must be an object of projection: rank, got {_shown(self.ranks)}")
        unknown = sorted(set(self.ranks) - set(PROJECTIONS))
        if unknown:
            raise ConfigError(f"unknown projections {', '.join(unknown)}; ranks apply to {', '.join(PROJECTIONS)}")
        bad = {
            k: r for k, r in self.ranks.items() if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1
        }
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
    # The position of the first token. RoBERTa's positions start after its padding index
    # (pad_token_id + 1): its table has that many rows more than the longest input.
    position_offset: int = 0
    # Width of the embedding tables; 0: hidden_size. ELECTRA's and ALBERT's are narrower and a
    # linear projects them to hidden_size after the embedding norm.
    embedding_size: int = 0
    # ALBERT's weight sharing: > 0 gives the num_layers layers only this many blocks of weights, used
    # in turn (layer i runs block i * layer_groups // num_layers), and ``layers`` then lists one shape
    # per block. 0: every layer has its own block.
    layer_groups: int = 0
    norm_placement: str = "post"  # see NORM_PLACEMENTS
    position_kind: str = "absolute"  # see POSITION_KINDS; rotary has no position table
    # DeBERTa's relative distances: > 0 buckets them, exact up to half of this and logarithmic beyond,
    # out to max_relative_positions (0: max_position_embeddings); its table has 2 × span rows, the span
    # being relative_buckets, or max_relative_positions when there are no buckets.
    relative_buckets: int = 0
    max_relative_positions: int = 0
    rotary_theta: float = 10000.0  # rotary base of the global-attention layers
    local_rotary_theta: float = 10000.0  # rotary base of the local-attention layers (window > 0)
    ffn_kind: str = "plain"  # see FFN_KINDS
    bias: bool = True  # the blocks' linears have biases (ModernBERT's have none)
    norm_bias: bool = True  # every LayerNorm has a bias (ModernBERT's have none)
    norm_kind: str = "layer_norm"  # see NORM_KINDS
    # MobileBERT's block: > 0 narrows each block to this width inside, between an input bottleneck (and
    # a second one that queries and keys take; values take the block input) and an output bottleneck
    # back to hidden_size with its own residual sum. 0: blocks are hidden_size wide.
    bottleneck_size: int = 0
    ffn_stack: int = 1  # FFN sub-layers per block, each with its residual sum and norm (MobileBERT's 4)
    # MobileBERT's embeddings: each token's table row next to its right and left neighbours' (3 ×
    # embedding_size), projected to hidden_size before the position and token-type rows, which are
    # hidden_size wide, are added and the sum normed.
    trigram_input: bool = False
    # classification head
    pooling: str = "cls"  # "cls": first token; "mean": masked mean over tokens
    # dense layer before the classifier: tanh (BERT pooler, RoBERTa head), relu (DistilBERT), gelu (ELECTRA), none
    head_activation: str = "tanh"
    head_bias: bool = True  # the dense layer before the classifier has a bias (ModernBERT's has none)
    head_norm: bool = False  # a LayerNorm after that layer's activation (ModernBERT's head)
    num_labels: int = 2
    problem_type: str = SINGLE_LABEL  # see PROBLEM_TYPES
    # Multi-label only: label i applies when sigmoid(logit i) > thresholds[i]. Chosen by fine-tuning on
    # a held-out split of the training data; empty until then (and always for single-label models).
    thresholds: list[float] = field(default_factory=list)
    dropout: float = 0.1  # hidden and attention dropout, training only
    classifier_dropout: float = 0.1
    architecture: str = "bert"  # where the weights came from: one of ARCHITECTURES
    embedding_rank: int = 0  # > 0: word embeddings factorized as (vocab, r) @ (r, hidden)
    linformer_n: int = 0  # the sequence length Linformer's projections are sized for (inputs may be shorter)
    linformer_sharing: str = "headwise"  # see LINFORMER_SHARING
    skim_predictor: str = "learned"  # see SKIM_PREDICTORS; used by layers with skim_keep > 0
    # Mixed precision: linears (by module name) whose weights int8 export stores with fewer bits,
    # one scale per weight_group_size input features; the others get 8
    weight_bits: dict[str, int] = field(default_factory=dict)
    weight_group_size: int = 32
    layers: list[LayerConfig] = field(default_factory=list)
    head_dim: int = 0  # derived: the blocks' width (hidden_size or bottleneck_size) // num_heads

    def __post_init__(self) -> None:
        for name in (*INT_FIELDS, *REAL_FIELDS, *TEXT_FIELDS, *BOOL_FIELDS):
            check_field(name, getattr(self, name))
        if self.width % self.num_heads:
            what = "bottleneck_size" if self.bottleneck_size else "hidden_size"
            raise ConfigError(f"{what} ({self.width}) must be a positive multiple of num_heads ({self.num_heads})")
        if self.pad_token_id >= self.vocab_size:
            raise ConfigError(
                f"pad_token_id {self.pad_token_id} is outside the vocabulary (vocab_size {self.vocab_size})"
            )
        if self.max_position_embeddings - self.position_offset < 2:
            raise ConfigError(
                f"position_offset {self.position_offset} leaves fewer than 2 of the "
                f"{self.max_position_embeddings} positions (max_position_embeddings) for tokens"
            )
        self._check_thresholds()
        self.head_dim = self.width // self.num_heads
        if not isinstance(self.layers, list):
            raise ConfigError(f"layers must be a list of layer shapes, got {_shown(self.layers)}")
        if self.layer_groups > self.num_layers:
            raise ConfigError(f"layer_groups ({self.layer_groups}) must be at most num_layers ({self.num_layers})")
        if self.layers and len(self.layers) != self.num_blocks:  # counted before building any of them
            what = f"layer_groups is {self.layer_groups}" if self.layer_groups else f"num_layers is {self.num_layers}"
            raise ConfigError(f"config lists {len(self.layers)} layers but {what}")
        self.layers = [
            from_fields(LayerConfig, x, ConfigError, f"layers[{i}]") if isinstance(x, dict) else x
            for i, x in enumerate(self.layers)
        ]
        if not all(isinstance(x, LayerConfig) for x in self.layers):
            raise ConfigError(
                'every entry of layers must be an object such as {"num_heads": 12, "intermediate_size": 1536}'
            )
        if not self.layers:
            self.layers = [LayerConfig(self.num_heads, self.intermediate_size) for _ in range(self.num_blocks)]
        if self.bottleneck_size and (self.norm_placement == "pre" or self.layer_groups):
            raise ConfigError("bottleneck blocks (MobileBERT) are post-norm and hold their own weights")
        if self.position_kind == "rotary" and self.head_dim % 2:
            raise ConfigError(f"rotary positions need an even head size, got {self.head_dim}")
        self._check_linformer()
        if any(layer.linformer_k and layer.sign_match_k for layer in self.layers):
            raise ConfigError("a layer cannot have both Linformer and sign-matching attention")
        self._check_skim()
        if not isinstance(self.weight_bits, dict):
            raise ConfigError(f"weight_bits must be an object of linear name: bits, got {_shown(self.weight_bits)}")
        bad = {name: b for name, b in self.weight_bits.items() if isinstance(b, bool) or b not in WEIGHT_BITS}
        if bad:
            raise ConfigError(
                f"weight_bits {bad}: the runtimes run {' and '.join(map(str, WEIGHT_BITS))}-bit weights only"
            )
        n = self.num_parameters()
        if n > MAX_PARAMETERS:
            raise ConfigError(
                f"the config describes a model of {n:.3g} weights, more than ondevice handles ({MAX_PARAMETERS:.3g}); "
                f"check vocab_size ({self.vocab_size}), hidden_size ({self.hidden_size}), "
                f"intermediate_size and the layers"
            )

    def num_parameters(self) -> int:
        """How many weights ``Classifier(self)`` has, worked out from the shapes alone (nothing is
        allocated): what a config.json is checked against before a model is built from it."""
        C, E, W, b = self.hidden_size, self.embedding_dim, self.width, self.bias
        affine = 1 if self.norm_kind == "layer_norm" and not self.norm_bias else 2  # weights per feature

        def norm(width: int = C) -> int:
            return affine * width

        word = _linear_parameters(self.vocab_size, E, self.embedding_rank) - E  # an embedding has no bias
        positions = self.max_position_embeddings if self.position_kind == "absolute" else 0
        if self.trigram_input:  # three neighbours' rows projected, then hidden-wide positions and types
            n = word + _linear_parameters(3 * E, C) + (positions + self.type_vocab_size) * C + norm()
        else:
            n = word + (positions + self.type_vocab_size) * E + norm(E)
            n += _linear_parameters(E, C) if E != C else 0  # ELECTRA's and ALBERT's projection
        if self.position_kind == "relative":
            n += 2 * self.relative_span * C + norm()  # DeBERTa's table of distances and its norm
        sharing = self.linformer_sharing
        for i, layer in enumerate(self.layers):
            r = layer.ranks
            if W != C:  # MobileBERT's input, query-key and output bottlenecks
                n += 2 * (_linear_parameters(C, W) + norm(W)) + _linear_parameters(W, C) + norm()
            if layer.num_heads:
                inner = layer.num_heads * self.head_dim
                n += sum(_linear_parameters(W, inner, r.get(p, 0), b) for p in ("query", "key"))
                n += _linear_parameters(C if W != C else W, inner, r.get("value", 0), b)
                n += _linear_parameters(inner, W, r.get("output", 0), b) + (0 if self.first_unnormed(i) else norm(W))
                if layer.linformer_k and sharing != "layerwise":
                    per = layer.linformer_k * self.linformer_n * (layer.num_heads if sharing == "none" else 1)
                    n += per * (1 if sharing == "kv" else 2)
            if layer.intermediate_size:
                F, gated = layer.intermediate_size, self.ffn_kind == "gated"
                n += _linear_parameters(W, F, r.get("up", 0), b) + norm(W)
                n += _linear_parameters(W, F, r.get("gate", 0), b) if gated else 0
                n += _linear_parameters(F, W, r.get("down", 0), b)
            # MobileBERT's stacked FFNs before the last, each with its norm; pruning leaves them whole
            n += (self.ffn_stack - 1) * (2 * W * self.intermediate_size + self.intermediate_size + W + norm(W))
            if layer.skim_keep and self.skim_predictor == "learned":
                n += _linear_parameters(C, SKIM_INNER) + _linear_parameters(SKIM_INNER, 1)
        ks = [layer.linformer_k for layer in self.layers if layer.linformer_k]
        if ks and sharing == "layerwise":
            n += ks[0] * self.linformer_n
        if self.norm_placement == "pre":
            n += norm()  # the final norm
        if self.head_activation != "none":
            n += _linear_parameters(C, C, 0, self.head_bias) + (norm() if self.head_norm else 0)
        return n + _linear_parameters(C, self.num_labels)

    @property
    def relative_span(self) -> int:
        """How many relative distances each side DeBERTa's table holds."""
        return self.relative_buckets or self.max_relative_positions or self.max_position_embeddings

    @property
    def width(self) -> int:
        """The width the blocks' attention and FFNs work at: MobileBERT's bottleneck, or the hidden size."""
        return self.bottleneck_size or self.hidden_size

    @property
    def num_blocks(self) -> int:
        """How many blocks of weights the model holds: ``layer_groups`` when layers share them."""
        return self.layer_groups or self.num_layers

    def first_unnormed(self, block: int) -> bool:
        """Whether ``block``'s attention takes its input without a norm: ModernBERT's first block,
        whose input the embedding norm has just normalized."""
        return self.norm_placement == "pre" and block == 0

    def block_of(self, i: int) -> int:
        """The block that layer ``i`` runs: its own, or with ALBERT's sharing its group's."""
        return i * self.layer_groups // self.num_layers if self.layer_groups else i

    @property
    def applied_layers(self) -> list[LayerConfig]:
        """The shape of every layer in the order they run (with sharing, a block's shape repeats)."""
        return [self.layers[self.block_of(i)] for i in range(self.num_layers)]

    @property
    def embedding_dim(self) -> int:
        """Width of the embedding tables: ``embedding_size``, or ``hidden_size`` when that is 0."""
        return self.embedding_size or self.hidden_size

    @property
    def positions(self) -> int:
        """How many tokens the position table has room for (its rows after ``position_offset``)."""
        return self.max_position_embeddings - self.position_offset

    @property
    def max_length(self) -> int:
        """The longest input the model takes, in tokens: its position table, or the sequence length
        its Linformer projections are sized for when that is shorter."""
        if self.linformer_n and any(layer.linformer_k for layer in self.layers):
            return min(self.positions, self.linformer_n)
        return self.positions

    def check_length(self, n: int, option: str = "--max-length", lowest: int = 2) -> int:
        """Refuse a sequence length the model cannot take: longer than ``max_length`` or shorter than
        ``lowest``. Every command that takes a length checks it here, before any work. Returns ``n``.

        Raises:
            ConfigError: naming ``option`` and the lengths the model takes.
        """
        longest = self.max_length
        if not lowest <= n <= longest:
            what = "its position table" if longest == self.positions else "its Linformer projections"
            raise ConfigError(f"{option} {n} is outside what the model can take: {lowest} to {longest} tokens ({what})")
        return n

    def check_linformer_applies(self) -> None:
        """Refuse Linformer on a model whose attention depends on token positions."""
        if self.position_kind != "absolute" or any(layer.window for layer in self.layers):
            raise ConfigError(
                "Linformer does not apply to this model: it projects keys along the sequence, which would mix "
                "the positions that rotary or relative positions and local attention windows depend on"
            )

    @property
    def multi_label(self) -> bool:
        return self.problem_type == MULTI_LABEL

    def decision_thresholds(self) -> list[float]:
        """Each label's threshold on its sigmoid probability: the chosen ones, else 0.5 for every label."""
        return list(self.thresholds) or [0.5] * self.num_labels

    def _check_thresholds(self) -> None:
        if not isinstance(self.thresholds, list):
            raise ConfigError(f"thresholds must be a list of numbers, got {_shown(self.thresholds)}")
        if not self.thresholds:
            return
        if not self.multi_label:
            raise ConfigError(f"thresholds apply to {MULTI_LABEL} only (problem_type is {self.problem_type})")
        if len(self.thresholds) != self.num_labels:
            raise ConfigError(f"thresholds lists {len(self.thresholds)} numbers for the {self.num_labels} labels")
        for i, t in enumerate(self.thresholds):
            check_real(f"thresholds[{i}]", t, 0.0, 1.0, exclude_lowest=True)
            if t >= 1.0:
                raise ConfigError(f"thresholds[{i}] must be below 1, got {t}")

    def _check_linformer(self) -> None:
        ks = {layer.linformer_k for layer in self.layers if layer.linformer_k and layer.num_heads}
        if not ks:
            return
        self.check_linformer_applies()
        if self.linformer_sharing not in LINFORMER_SHARING:
            raise ConfigError(
                f"linformer_sharing {self.linformer_sharing!r} is not one of {', '.join(LINFORMER_SHARING)}"
            )
        if not 0 < self.linformer_n <= self.positions:
            raise ConfigError(
                f"linformer_n must be in 1..{self.positions} (the position table), got {self.linformer_n}"
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
        if self.bottleneck_size:
            raise ConfigError(
                "token skimming does not apply to MobileBERT's bottleneck blocks: "
                "their residual paths at two widths have no single hidden state to leave a skipped token in"
            )
        if self.layer_groups:
            raise ConfigError(
                "token skimming does not apply to a model whose layers share their weights (ALBERT): "
                "a skimming layer's budget and predictor would be every layer's"
            )
        if self.position_kind != "absolute" or any(layer.window for layer in self.layers):
            raise ConfigError(
                "token skimming does not apply to this model: the tokens it gathers lose the positions that "
                "rotary or relative positions and local attention windows depend on"
            )
        if self.skim_predictor == "attention":
            if not any(layer.num_heads for layer in self.layers[:first]):
                raise ConfigError("attention-based skimming needs an attention layer before the first skimming layer")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("head_dim")
        return {"schema_version": SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EncoderConfig":
        if not isinstance(d, dict):
            raise CheckpointError("config is not a JSON object")
        d = dict(d)
        version = d.pop("schema_version", None)
        if version not in READABLE_VERSIONS:
            raise CheckpointError(
                f"config schema version {version!r} is not supported "
                f"(this ondevice reads versions {', '.join(map(str, READABLE_VERSIONS))})"
            )
        d.pop("head_dim", None)
        # A saved config lists every field; a missing size would silently become MiniLM's default.
        missing = [k for k in REQUIRED_FIELDS if k not in d]
        if missing:
            raise CheckpointError(f"the field {missing[0]!r} is missing")
        return from_fields(cls, d, CheckpointError, "config")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "EncoderConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is not valid JSON: {e}") from None
