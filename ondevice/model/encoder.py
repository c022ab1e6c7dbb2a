"""One export-friendly BERT-family encoder with a classification head.

Static shapes, an additive attention mask and no data-dependent control flow, so that
``torch.export`` and the int8 quantizers see a plain graph of linears, matmuls and norms.
Classes are defined bottom-up: attention, feed-forward, block, embeddings, classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ondevice.model.config import EncoderConfig, LayerConfig

# Added to the attention scores of padded keys. exp(-1e4) underflows to exactly 0 in fp32,
# and unlike finfo.min it cannot overflow to -inf when added to a negative score.
MASK_VALUE = -10000.0


def _activation(name: str):
    if name == "gelu":
        return F.gelu
    if name == "gelu_new":
        return lambda x: F.gelu(x, approximate="tanh")
    return F.relu


class LowRankLinear(nn.Module):
    """W ≈ B·A: a Linear factorized through rank r (Low-Rank Transformer). in→r without bias, r→out with it."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.reduce = nn.Linear(in_features, rank, bias=False)  # A: (r, in)
        self.expand = nn.Linear(rank, out_features)  # B: (out, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.reduce(x))


def linear(in_features: int, out_features: int, rank: int = 0) -> nn.Module:
    """A dense Linear, or its low-rank factorization when ``rank`` > 0."""
    return LowRankLinear(in_features, out_features, rank) if rank else nn.Linear(in_features, out_features)


class FactorizedEmbedding(nn.Module):
    """Word embeddings as a (vocab, r) table times an (r, hidden) projection."""

    def __init__(self, vocab_size: int, hidden_size: int, rank: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, rank)
        self.project = nn.Linear(rank, hidden_size, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.table(ids))


def pooling_matrix(k: int, n: int) -> torch.Tensor:
    """(k, n): row j averages the j-th of k contiguous windows that split n positions (Linformer's init)."""
    bounds = [j * n // k for j in range(k + 1)]
    E = torch.zeros(k, n)
    for j in range(k):
        E[j, bounds[j] : bounds[j + 1]] = 1.0 / (bounds[j + 1] - bounds[j])
    return E


class SequenceProjection(nn.Module):
    """Linformer's E and F: keys and values projected along the sequence axis from n to k positions.

    Padded positions are zeroed before the projection, and a projected position that sees only
    padding is masked out of the scores, so the output does not depend on how much padding follows
    the sentence. Inputs shorter than n use the first L columns, so one model serves every length up
    to n. ``heads`` > 0 gives every head its own matrices; ``shared_kv`` uses E for values too.
    """

    def __init__(self, k: int, n: int, heads: int = 0, shared_kv: bool = False):
        super().__init__()
        init = pooling_matrix(k, n)
        if heads:
            init = init.expand(heads, k, n)
        self.key = nn.Parameter(init.clone())  # E: (k, n) or (H, k, n)
        self.value = None if shared_kv else nn.Parameter(init.clone())  # F

    def forward(self, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor):
        """k, v: (B, H, L, D); keep: (B, 1, L, 1), 1 for tokens and 0 for padding.

        Returns projected k and v (B, H, k, D) and the additive mask of the projected keys (B, 1|H, 1, k).
        """
        L = k.shape[-2]
        E = self.key[..., :L]
        F = E if self.value is None else self.value[..., :L]
        coverage = E.abs() @ keep  # (B, 1|H, k, 1): how much of each projected key comes from tokens
        mask = (coverage <= 0).to(k.dtype).transpose(-1, -2) * MASK_VALUE
        return E @ (k * keep), F @ (v * keep), mask


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.num_heads = layer.num_heads
        self.head_dim = config.head_dim
        inner = layer.num_heads * config.head_dim
        C, r = config.hidden_size, layer.ranks
        self.query = linear(C, inner, r.get("query", 0))
        self.key = linear(C, inner, r.get("key", 0))
        self.value = linear(C, inner, r.get("value", 0))
        self.output = linear(inner, C, r.get("output", 0))
        self.dropout = nn.Dropout(config.dropout)
        # Linformer: this layer's own sequence projection (the layerwise one is the Classifier's).
        sharing = config.linformer_sharing
        self.linformer = None
        if layer.linformer_k and sharing != "layerwise":
            heads = layer.num_heads if sharing == "none" else 0
            self.linformer = SequenceProjection(layer.linformer_k, config.linformer_n, heads, sharing == "kv")
        # Significance analysis multiplies each head's context by a gate; None in normal use.
        self.head_gate: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, shared: SequenceProjection | None = None) -> torch.Tensor:
        B, L, _ = x.shape
        q = self.query(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        k = self.key(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        v = self.value(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        projection = self.linformer or shared
        if projection is not None:  # (B, H, k, D) keys and values, (B, 1|H, 1, k) mask
            k, v, mask = projection(k, v, (mask > MASK_VALUE / 2).to(x.dtype).transpose(-1, -2))
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.head_dim)) + mask  # (B, H, L, L or k)
        probs = self.dropout(scores.softmax(dim=-1))
        ctx = probs @ v  # (B, H, L, D)
        if self.head_gate is not None:
            ctx = ctx * self.head_gate.view(1, -1, 1, 1)
        ctx = ctx.transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim)  # (B, L, H*D)
        return self.output(ctx)


class FeedForward(nn.Module):
    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        C, r = config.hidden_size, layer.ranks
        self.up = linear(C, layer.intermediate_size, r.get("up", 0))
        self.down = linear(layer.intermediate_size, C, r.get("down", 0))
        self.act = _activation(config.hidden_act)
        self.neuron_gate: torch.Tensor | None = None  # (intermediate_size,), significance analysis only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.up(x))  # (B, L, F)
        if self.neuron_gate is not None:
            h = h * self.neuron_gate
        return self.down(h)


class Block(nn.Module):
    """Post-LN transformer block as in BERT. A sub-layer pruned to width 0 becomes the identity."""

    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.attention = SelfAttention(config, layer) if layer.num_heads else None
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if layer.num_heads else None
        self.ffn = FeedForward(config, layer) if layer.intermediate_size else None
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if layer.intermediate_size else None
        self.dropout = nn.Dropout(config.dropout)
        # Significance analysis scales each sub-layer's output (attention, FFN) by a gate; None otherwise.
        self.sublayer_gate: torch.Tensor | None = None  # (2,)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, shared: SequenceProjection | None = None) -> torch.Tensor:
        g = self.sublayer_gate
        if self.attention is not None:
            a = self.attention(x, mask, shared)
            x = self.attention_norm(x + self.dropout(a if g is None else a * g[0]))
        if self.ffn is not None:
            f = self.ffn(x)
            x = self.ffn_norm(x + self.dropout(f if g is None else f * g[1]))
        return x


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.embedding_rank:
            self.word = FactorizedEmbedding(config.vocab_size, config.hidden_size, config.embedding_rank)
        else:
            self.word = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        # Inputs carry no token types (single sentences), so type 0's row is a constant offset.
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size) if config.type_vocab_size else None
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        L = input_ids.shape[1]
        # Mobile runtimes feed int32 ids; quantized embedding kernels index with int64 only.
        input_ids = input_ids.to(torch.long)
        x = self.word(input_ids) + self.position(self.position_ids[:L])  # (B, L, C)
        if self.token_type is not None:
            x = x + self.token_type.weight[0]
        return self.dropout(self.norm(x))


class Classifier(nn.Module):
    """Encoder + pooling + head. ``forward(input_ids, attention_mask) -> logits (B, num_labels)``."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.blocks = nn.ModuleList(Block(config, layer) for layer in config.layers)
        # Linformer with layerwise sharing: one projection for keys and values of every layer.
        ks = [layer.linformer_k for layer in config.layers if layer.linformer_k]
        self.linformer = None
        if ks and config.linformer_sharing == "layerwise":
            self.linformer = SequenceProjection(ks[0], config.linformer_n, shared_kv=True)
        C = config.hidden_size
        self.pre_classifier = nn.Linear(C, C) if config.head_activation != "none" else None
        self.classifier = nn.Linear(C, config.num_labels)
        self.head_dropout = nn.Dropout(config.classifier_dropout)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, L, C)."""
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MASK_VALUE  # (B, 1, 1, L)
        x = self.embeddings(input_ids)
        for block, layer in zip(self.blocks, self.config.layers, strict=True):
            x = block(x, mask, self.linformer if layer.linformer_k else None)
        return x

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence vector (B, C) as the head sees it, before the pre-classifier layer."""
        if self.config.pooling == "cls":
            return hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        x = pooled
        if self.pre_classifier is not None:
            x = self.pre_classifier(x)
            x = torch.tanh(x) if self.config.head_activation == "tanh" else F.relu(x)
        return self.classifier(self.head_dropout(x))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encode(input_ids, attention_mask)
        return self.head(self.pool(hidden, attention_mask))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
