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


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.num_heads = layer.num_heads
        self.head_dim = config.head_dim
        inner = layer.num_heads * config.head_dim
        self.query = nn.Linear(config.hidden_size, inner)
        self.key = nn.Linear(config.hidden_size, inner)
        self.value = nn.Linear(config.hidden_size, inner)
        self.output = nn.Linear(inner, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        q = self.query(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        k = self.key(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        v = self.value(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(self.head_dim)) + mask  # (B, H, L, L)
        probs = self.dropout(scores.softmax(dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim)  # (B, L, H*D)
        return self.output(ctx)


class FeedForward(nn.Module):
    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, layer.intermediate_size)
        self.down = nn.Linear(layer.intermediate_size, config.hidden_size)
        self.act = _activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class Block(nn.Module):
    """Post-LN transformer block as in BERT. A sub-layer pruned to width 0 becomes the identity."""

    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.attention = SelfAttention(config, layer) if layer.num_heads else None
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if layer.num_heads else None
        self.ffn = FeedForward(config, layer) if layer.intermediate_size else None
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if layer.intermediate_size else None
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.attention is not None:
            x = self.attention_norm(x + self.dropout(self.attention(x, mask)))
        if self.ffn is not None:
            x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        return x


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
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
        C = config.hidden_size
        self.pre_classifier = nn.Linear(C, C) if config.head_activation != "none" else None
        self.classifier = nn.Linear(C, config.num_labels)
        self.head_dropout = nn.Dropout(config.classifier_dropout)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, L, C)."""
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * MASK_VALUE  # (B, 1, 1, L)
        x = self.embeddings(input_ids)
        for block in self.blocks:
            x = block(x, mask)
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
