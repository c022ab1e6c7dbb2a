"""One export-friendly BERT-family encoder with a classification head.

Static shapes, an additive attention mask and no data-dependent control flow, so that
``torch.export`` and the int8 quantizers see a plain graph of linears, matmuls and norms.
Classes are defined bottom-up: attention, feed-forward, block, embeddings, classifier.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ondevice.model.config import SKIM_INNER, EncoderConfig, LayerConfig

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
    """W ≈ B·A: a Linear factorized through rank r (Low-Rank Transformer). in→r without bias, r→out
    with the original's bias, if it had one."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.reduce = nn.Linear(in_features, rank, bias=False)  # A: (r, in)
        self.expand = nn.Linear(rank, out_features, bias=bias)  # B: (out, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.reduce(x))


def linear(in_features: int, out_features: int, rank: int = 0, bias: bool = True) -> nn.Module:
    """A dense Linear, or its low-rank factorization when ``rank`` > 0."""
    if rank:
        return LowRankLinear(in_features, out_features, rank, bias)
    return nn.Linear(in_features, out_features, bias=bias)


class NoNorm(nn.Module):
    """MobileBERT's NoNorm: an elementwise scale and shift in place of a LayerNorm, nothing normalized."""

    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


def layer_norm(config: EncoderConfig, width: int | None = None) -> nn.Module:
    """The config's norm over ``width`` (the hidden size) features: a LayerNorm, with a bias unless the
    config has none, or MobileBERT's NoNorm."""
    if config.norm_kind == "no_norm":
        return NoNorm(width or config.hidden_size)
    return nn.LayerNorm(width or config.hidden_size, eps=config.layer_norm_eps, bias=config.norm_bias)


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
        # Set by ``fixed_length`` for export: |E| as a parameter, E and F then cut to the input length.
        self.key_abs: nn.Parameter | None = None

    def forward(self, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor):
        """k, v: (B, H, L, D); keep: (B, 1, L, 1), 1 for tokens and 0 for padding.

        Returns projected k and v (B, H, k, D) and the additive mask of the projected keys (B, 1|H, 1, k).
        """
        L = k.shape[-2]
        fixed = self.key_abs is not None  # already cut to this length by ``fixed_length``
        E = self.key if fixed else self.key[..., :L]  # (1|H, k, L)
        F_ = E if self.value is None else self.value if fixed else self.value[..., :L]
        # How much of each projected key comes from tokens, (B, 1|H, k, 1); none at all masks it out.
        # Written with ops XNNPACK runs, so that the mask does not leave and re-enter its partition.
        coverage = self._project(keep, E.abs() if self.key_abs is None else self.key_abs)
        mask = (1.0 - coverage * 1e6).clamp(min=0.0).transpose(-1, -2) * MASK_VALUE
        return self._project(k * keep, E), self._project(v * keep, F_), mask

    @staticmethod
    def _project(x: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
        """E @ x for x (B, H, L, D). One (k, L) matrix is applied as a linear layer along the sequence,
        which XNNPACK runs as a fully-connected layer; a matmul with the parameter on the left would
        stay in the portable kernels."""
        if E.dim() == 2:
            return F.linear(x.transpose(-1, -2), E).transpose(-1, -2)
        return E @ x


def fixed_length(model: nn.Module, length: int) -> nn.Module:
    """``model`` for inputs of exactly ``length`` tokens: a copy whose Linformer projections keep only
    their first ``length`` columns, as parameters (and |E| as one). XNNPACK runs a product with a learned
    matrix as a fully-connected layer only when the matrix is a parameter, not a slice of one. Without Linformer
    the model itself is returned."""
    if not any(isinstance(m, SequenceProjection) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SequenceProjection):
                m.key = nn.Parameter(m.key[..., :length].clone())
                m.key_abs = nn.Parameter(m.key.abs())
                if m.value is not None:
                    m.value = nn.Parameter(m.value[..., :length].clone())
    return model


def _sign_match_mask(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, top: int) -> torch.Tensor:
    """Sign-matching attention (approximate computing): per query, the additive mask that keeps only
    the ``top`` keys whose signs agree with the query's in the most of the D dimensions (ties kept).
    The agreement is sign(q)·sign(k), a product of ±1 matrices."""
    agree = torch.sign(q) @ torch.sign(k).transpose(-1, -2) + mask  # (B, H, L, L); padded keys never agree
    rows = agree.reshape(-1, agree.shape[-1])
    # the top-k's indices then a gather, over rows of a 2-D view: litert-torch lowers other forms of
    # top-k to a sort that the TFLite interpreter lacks
    last = rows.topk(top, dim=-1).indices[:, -1:]
    threshold = rows.gather(1, last).reshape(*agree.shape[:-1], 1)
    return (agree < threshold).to(q.dtype) * MASK_VALUE


def _rotate(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding of x (B, H, L, D): each pair of dimensions (j, j + D/2) of the token at
    position p turned by the angle p · theta^(-2j/D). Computed from the length alone, so the artifact
    holds no table of positions."""
    L, D = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, D, 2, dtype=torch.float32, device=x.device) / D)  # (D/2,)
    freqs = torch.arange(L, dtype=torch.float32, device=x.device)[:, None] * inv_freq  # (L, D/2)
    angle = torch.cat([freqs, freqs], dim=-1)  # (L, D)
    half = torch.cat([-x[..., D // 2 :], x[..., : D // 2]], dim=-1)  # (B, H, L, D)
    return x * angle.cos() + half * angle.sin()


def _log_buckets(rel: torch.Tensor, buckets: int, max_distance: int) -> torch.Tensor:
    """DeBERTa's bucketed distances: exact below half of ``buckets``, logarithmic out to ``max_distance``.
    The same float operations as transformers', so that the buckets are the same."""
    sign = torch.sign(rel)
    mid = buckets // 2
    near = (rel < mid) & (rel > -mid)
    size = torch.where(near, torch.tensor(mid - 1).type_as(rel), torch.abs(rel))
    scale = torch.log(torch.tensor((max_distance - 1) / mid))
    far = torch.ceil(torch.log(size / mid) / scale * (mid - 1)) + mid
    return torch.where(size <= mid, rel.type_as(far), far * sign).to(torch.long)


def _disentangled(q, k, table, rel) -> torch.Tensor:
    """DeBERTa's content-to-position and position-to-content scores (B, H, L, L), unscaled.

    q, k: (B, H, L, D); table: the distances projected as keys and as queries, each (H, 2S, D); rel:
    (L, L) the bucketed distance of each key from each query. Static lengths make ``rel`` a constant,
    so the gathers have fixed indices."""
    pos_key, pos_query = table
    B, H, L, _ = q.shape
    S = pos_key.shape[1] // 2
    c2p = q @ pos_key.transpose(-1, -2)  # (B, H, L, 2S): each query against every distance
    c2p = c2p.gather(-1, (rel + S).clamp(0, 2 * S - 1).expand(B, H, L, L))
    p2c = k @ pos_query.transpose(-1, -2)  # (B, H, L, 2S): each key against every distance
    p2c = p2c.gather(-1, (S - rel).clamp(0, 2 * S - 1).expand(B, H, L, L)).transpose(-1, -2)
    return c2p + p2c


def _window_mask(L: int, window: int, device: torch.device) -> torch.Tensor:
    """(L, L) additive mask of local attention: a query sees the keys at most ``window`` positions away."""
    pos = torch.arange(L, device=device)
    return ((pos[None, :] - pos[:, None]).abs() > window).to(torch.float32) * MASK_VALUE


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, H, n, k) @ (B, H, k, m) as one 3-D batched matmul. A 4-D matmul decomposes into expand copies
    that XNNPACK does not take, and each one splits the delegated graph."""
    out = torch.bmm(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]))
    return out.view(*a.shape[:-1], b.shape[-1])


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        self.num_heads = layer.num_heads
        self.head_dim = config.head_dim
        inner = layer.num_heads * config.head_dim
        W, r, b = config.width, layer.ranks, config.bias
        self.query = linear(W, inner, r.get("query", 0), b)
        self.key = linear(W, inner, r.get("key", 0), b)
        # In a MobileBERT block, values come from the block's hidden_size-wide input, not its bottleneck.
        self.value = linear(config.hidden_size, inner, r.get("value", 0), b)
        self.output = linear(inner, W, r.get("output", 0), b)
        self.dropout = nn.Dropout(config.dropout)
        self.sign_match_k = layer.sign_match_k
        self.window = layer.window
        # DeBERTa's disentangled attention: two position terms beside the content one, scaled together.
        self.relative = config.position_kind == "relative"
        self.scale = 1.0 / math.sqrt(config.head_dim * (3 if self.relative else 1))
        # Rotary positions: the base of the angles (local layers have their own); 0 for none.
        rotary = config.position_kind == "rotary"
        self.rotary_theta = (config.local_rotary_theta if layer.window else config.rotary_theta) if rotary else 0.0
        # Linformer: this layer's own sequence projection (the layerwise one is the Classifier's).
        sharing = config.linformer_sharing
        self.linformer = None
        if layer.linformer_k and sharing != "layerwise":
            heads = layer.num_heads if sharing == "none" else 0
            self.linformer = SequenceProjection(layer.linformer_k, config.linformer_n, heads, sharing == "kv")
        # Significance analysis multiplies each head's context by a gate; None in normal use.
        self.head_gate: torch.Tensor | None = None

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        shared: SequenceProjection | None = None,
        key_weight: torch.Tensor | None = None,
        received: bool = False,
        value_input: torch.Tensor | None = None,
        relative: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """x: (B, L, W); mask: additive (B, 1, 1, L). Returns (B, L, W). ``value_input`` (B, L, C) is
        what values are computed from when it is not ``x`` (MobileBERT's block input). ``relative`` is
        DeBERTa's normed table of distances (2S, C) and the bucketed distances (L, L).

        ``key_weight`` (B, 1, 1, L) scales each key's attention, renormalized: the differentiable mask
        that token-skimming training uses. With ``received`` also returns the attention each token
        received from the live queries, summed over heads (B, L): the training-free skim score.
        """
        B, L, _ = x.shape
        q = self.query(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        k = self.key(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        v = self.value(x if value_input is None else value_input)
        v = v.view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        if self.rotary_theta:
            q, k = _rotate(q, self.rotary_theta), _rotate(k, self.rotary_theta)
        projection = self.linformer or shared
        if projection is not None:  # (B, H, k, D) keys and values, (B, 1|H, 1, k) mask
            k, v, mask = projection(k, v, (mask > MASK_VALUE / 2).to(x.dtype).transpose(-1, -2))
        scores = _bmm(q, k.transpose(-1, -2)) * self.scale + mask  # (B, H, L, L or k)
        if self.relative:
            table, rel = relative
            heads = (-1, self.num_heads, self.head_dim)
            pos_key = self.key(table).view(*heads).transpose(0, 1)  # (H, 2S, D), projected as keys
            pos_query = self.query(table).view(*heads).transpose(0, 1)  # (H, 2S, D), and as queries
            scores = scores + _disentangled(q, k, (pos_key, pos_query), rel) * self.scale
        if self.window and self.window < L - 1:
            scores = scores + _window_mask(L, self.window, x.device).to(x.dtype)
        if self.sign_match_k and self.sign_match_k < scores.shape[-1]:
            scores = scores + _sign_match_mask(q, k, mask, self.sign_match_k)
        probs = scores.softmax(dim=-1)
        if key_weight is not None:
            probs = probs * key_weight
            probs = probs / probs.sum(dim=-1, keepdim=True).clamp(min=1e-9)
        ctx = _bmm(self.dropout(probs), v)  # (B, H, L, D)
        if self.head_gate is not None:
            ctx = ctx * self.head_gate.view(1, -1, 1, 1)
        ctx = ctx.transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim)  # (B, L, H*D)
        out = self.output(ctx)
        if not received:
            return out
        live_queries = (mask > MASK_VALUE / 2).to(x.dtype).transpose(-1, -2)  # (B, 1, L, 1)
        return out, (probs * live_queries).sum(dim=(1, 2))


class FeedForward(nn.Module):
    """down(act(up(x))), or gated (GeGLU, ModernBERT): down(act(up(x)) * gate(x))."""

    def __init__(self, config: EncoderConfig, layer: LayerConfig):
        super().__init__()
        W, F_, r, b = config.width, layer.intermediate_size, layer.ranks, config.bias
        self.up = linear(W, F_, r.get("up", 0), b)
        self.gate = linear(W, F_, r.get("gate", 0), b) if config.ffn_kind == "gated" else None
        self.down = linear(F_, W, r.get("down", 0), b)
        self.act = _activation(config.hidden_act)
        self.neuron_gate: torch.Tensor | None = None  # (intermediate_size,), significance analysis only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.up(x))  # (B, L, F)
        if self.gate is not None:
            h = h * self.gate(x)
        if self.neuron_gate is not None:
            h = h * self.neuron_gate
        return self.down(h)


class Bottleneck(nn.Module):
    """MobileBERT's bottleneck into a block: hidden_size -> bottleneck width, then the config's norm."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.width)
        self.norm = layer_norm(config, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dense(x))


class SkimPredictor(nn.Module):
    """Transkimmer's skim predictor: a small MLP giving each token a keep score (> 0: keep)."""

    def __init__(self, hidden_size: int, inner: int = SKIM_INNER):
        super().__init__()
        self.up = nn.Linear(hidden_size, inner)
        self.score = nn.Linear(inner, 1)
        nn.init.constant_(self.score.bias, 2.0)  # an untrained predictor keeps (nearly) every token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(F.gelu(self.up(x))).squeeze(-1)  # (B, L)


class Block(nn.Module):
    """A transformer block: post-LN as in BERT (each residual sum normed), or pre-LN as in ModernBERT
    (each sub-layer's input normed; the first block's attention takes the embedding norm's output as
    it is). A sub-layer pruned to width 0 becomes the identity."""

    def __init__(self, config: EncoderConfig, layer: LayerConfig, index: int = 0):
        super().__init__()
        self.pre_norm = config.norm_placement == "pre"
        W = config.width
        self.attention = SelfAttention(config, layer) if layer.num_heads else None
        self.attention_norm = None
        if layer.num_heads:
            self.attention_norm = nn.Identity() if config.first_unnormed(index) else layer_norm(config, W)
        self.ffn = FeedForward(config, layer) if layer.intermediate_size else None
        self.ffn_norm = layer_norm(config, W) if layer.intermediate_size else None
        # MobileBERT: the block works at the bottleneck width between an input bottleneck (and one for
        # queries and keys) and an output bottleneck back to the hidden size, with FFNs stacked before
        # the last one. Pruning and low-rank act on the attention and the last FFN.
        self.input_bottleneck = self.qk_bottleneck = self.output_bottleneck = self.output_norm = None
        self.stacked_ffns, self.stacked_norms = nn.ModuleList(), nn.ModuleList()
        if config.bottleneck_size:
            self.input_bottleneck = Bottleneck(config)
            self.qk_bottleneck = Bottleneck(config)
            self.output_bottleneck = nn.Linear(W, config.hidden_size)
            self.output_norm = layer_norm(config)
            full = LayerConfig(config.num_heads, config.intermediate_size)
            self.stacked_ffns.extend(FeedForward(config, full) for _ in range(config.ffn_stack - 1))
            self.stacked_norms.extend(layer_norm(config, W) for _ in range(config.ffn_stack - 1))
        self.dropout = nn.Dropout(config.dropout)
        # Significance analysis scales each sub-layer's output (attention, FFN) by a gate; None otherwise.
        self.sublayer_gate: torch.Tensor | None = None  # (2,)
        # Token skimming with learned scores: this layer's skim predictor.
        learned = layer.skim_keep and config.skim_predictor == "learned"
        self.skim = SkimPredictor(config.hidden_size) if learned else None

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        shared: SequenceProjection | None = None,
        key_weight: torch.Tensor | None = None,
        received: bool = False,
        relative: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Returns the new hidden states, and with ``received`` also the attention each token received
        (None without an attention sub-layer); see ``SelfAttention.forward``."""
        if self.input_bottleneck is not None:
            return self._bottlenecked(x, mask, shared)
        g = self.sublayer_gate
        got = None
        if self.attention is not None:
            h = self.attention_norm(x) if self.pre_norm else x
            a = self.attention(h, mask, shared, key_weight, received, relative=relative)
            if received:
                a, got = a
            x = x + self.dropout(a if g is None else a * g[0])
            x = x if self.pre_norm else self.attention_norm(x)
        if self.ffn is not None:
            f = self.ffn(self.ffn_norm(x) if self.pre_norm else x)
            x = x + self.dropout(f if g is None else f * g[1])
            x = x if self.pre_norm else self.ffn_norm(x)
        return (x, got) if received else x

    def _bottlenecked(self, x: torch.Tensor, mask: torch.Tensor, shared: SequenceProjection | None) -> torch.Tensor:
        """MobileBERT's block: x (B, L, C) -> (B, L, C) through the bottleneck width W."""
        g = self.sublayer_gate
        h = self.input_bottleneck(x)  # (B, L, W)
        if self.attention is not None:
            a = self.attention(self.qk_bottleneck(x), mask, shared, value_input=x)  # (B, L, W)
            h = self.attention_norm(h + (a if g is None else a * g[0]))
        for ffn, norm in zip(self.stacked_ffns, self.stacked_norms, strict=True):
            h = norm(h + ffn(h))
        if self.ffn is not None:
            f = self.ffn(h)
            h = self.ffn_norm(h + (f if g is None else f * g[1]))
        return self.output_norm(x + self.dropout(self.output_bottleneck(h)))


class Embeddings(nn.Module):
    """Word + position (+ token type 0) embeddings, normed; ELECTRA's and ALBERT's narrower tables then
    projected. With rotary positions (ModernBERT) there is no position table: the attention rotates.
    MobileBERT's trigram input projects each token's row with its neighbours' before the rest is added.

    Tables are ``config.embedding_dim`` wide. RoBERTa's positions start at ``position_offset``
    (after its padding index): with right padding and static shapes a sentence's tokens sit at
    offset, offset + 1, ..., which is what its position ids are for every token that is not padding.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        E = config.embedding_dim
        if config.embedding_rank:
            self.word = FactorizedEmbedding(config.vocab_size, E, config.embedding_rank)
        else:
            self.word = nn.Embedding(config.vocab_size, E)
        # MobileBERT's trigram input: three neighbours' rows projected up first, then hidden-wide
        # positions and types added (P is the width they are added and normed at).
        self.trigram = config.trigram_input
        P = config.hidden_size if self.trigram else E
        absolute = config.position_kind == "absolute"
        self.position = nn.Embedding(config.max_position_embeddings, P) if absolute else None
        # Single sentences carry no token types: type 0's row is then a constant offset.
        self.token_type = nn.Embedding(config.type_vocab_size, P) if config.type_vocab_size else None
        self.norm = layer_norm(config, P)
        self.dropout = nn.Dropout(config.dropout)
        # ELECTRA, ALBERT: embeddings narrower than the encoder, projected up after the norm.
        self.project = None
        if self.trigram or E != config.hidden_size:
            self.project = nn.Linear(3 * E if self.trigram else E, config.hidden_size)
        self.position_offset = config.position_offset
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings), persistent=False)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        L = input_ids.shape[1]
        # Mobile runtimes feed int32 ids; quantized embedding kernels index with int64 only.
        input_ids = input_ids.to(torch.long)
        x = self.word(input_ids)  # (B, L, E)
        if self.trigram:  # each token's row with the next token's before it and the previous one's after
            nxt, prev = F.pad(x[:, 1:], (0, 0, 0, 1)), F.pad(x[:, :-1], (0, 0, 1, 0))
            x = self.project(torch.cat([nxt, x, prev], dim=-1))  # (B, L, C)
        if self.position is not None:
            x = x + self.position(self.position_ids[self.position_offset : self.position_offset + L])
        if self.token_type is not None and token_type_ids is not None:
            x = x + self.token_type(token_type_ids.to(torch.long))
        elif self.token_type is not None:
            x = x + self.token_type.weight[0]
        x = self.dropout(self.norm(x))
        return x if self.trigram or self.project is None else self.project(x)  # (B, L, C)


class RelativePositions(nn.Module):
    """DeBERTa's relative positions: a normed table of 2 × span distances that every layer's attention
    projects with its own query and key projections, and each key's (bucketed) distance from each query."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        # A parameter, not an nn.Embedding: it is read whole, never looked up by id, and must stay out
        # of the export's quantization of embedding tables.
        self.table = nn.Parameter(torch.randn(2 * config.relative_span, config.hidden_size) * 0.02)
        self.norm = layer_norm(config)
        self.buckets = config.relative_buckets
        self.max_distance = config.max_relative_positions or config.max_position_embeddings

    def forward(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(length, device=device)
        rel = pos[:, None] - pos[None, :]  # (L, L): query minus key
        if self.buckets:
            rel = _log_buckets(rel, self.buckets, self.max_distance)
        return self.norm(self.table), rel  # (2S, C), (L, L)


_HEAD_ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu, "gelu": F.gelu}  # ELECTRA's head: exact (erf) GELU


def _additive(live: torch.Tensor) -> torch.Tensor:
    """(B, L) 1/0 for live/masked tokens -> the additive attention mask (B, 1, 1, L)."""
    return (1.0 - live[:, None, None, :]) * MASK_VALUE


class Classifier(nn.Module):
    """Encoder + pooling + head. ``forward(input_ids, attention_mask[, token_type_ids]) -> logits (B, num_labels)``;
    without token types every token is of type 0 (one text)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        # One block per set of weights: with ALBERT's sharing fewer than the layers, each run in turn.
        self.blocks = nn.ModuleList(Block(config, layer, i) for i, layer in enumerate(config.layers))
        self.final_norm = layer_norm(config) if config.norm_placement == "pre" else None
        self.relative = RelativePositions(config) if config.position_kind == "relative" else None
        # Linformer with layerwise sharing: one projection for keys and values of every layer.
        ks = [layer.linformer_k for layer in config.layers if layer.linformer_k]
        self.linformer = None
        if ks and config.linformer_sharing == "layerwise":
            self.linformer = SequenceProjection(ks[0], config.linformer_n, shared_kv=True)
        C = config.hidden_size
        dense = config.head_activation != "none"
        self.pre_classifier = nn.Linear(C, C, bias=config.head_bias) if dense else None
        self.head_norm = layer_norm(config) if dense and config.head_norm else None  # ModernBERT's head
        self.classifier = nn.Linear(C, config.num_labels)
        self.head_dropout = nn.Dropout(config.classifier_dropout)
        # Token skimming: "topk" keeps a static budget of tokens per layer (inference and export);
        # "gumbel" makes Transkimmer's per-token keep/skip decisions while training the predictors
        # (evaluation still uses the budgets, so dev accuracy is what the exported model gets).
        self.skim_mode = "topk"
        self.skim_kept: list[torch.Tensor] = []  # gumbel mode: the share of tokens each layer kept

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Last hidden states (B, L, C)."""
        live = attention_mask.to(torch.float32)  # (B, L): 1 for the tokens still being computed
        mask = _additive(live)  # (B, 1, 1, L); rebuilt only when skimming changes ``live``
        x = self.embeddings(input_ids, token_type_ids)
        skims = any(layer.skim_keep for layer in self.config.layers)
        want_received = skims and self.config.skim_predictor == "attention"
        received, self.skim_kept = None, []
        relative = None if self.relative is None else self.relative(input_ids.shape[1], x.device)
        for i, layer in enumerate(self.config.applied_layers):
            block = self.blocks[self.config.block_of(i)]
            shared = self.linformer if layer.linformer_k else None
            if not layer.skim_keep:
                out = block(x, mask, shared, received=want_received, relative=relative)
                x, got = out if want_received else (out, None)
                received = received if got is None else got
                continue
            if self.skim_mode == "gumbel" and self.training:
                x, live = self._skim_gumbel(block, x, live, mask, attention_mask)
            else:
                x, live, received = self._skim_topk(block, layer.skim_keep, x, live, received, want_received)
            mask = _additive(live)
        return x if self.final_norm is None else self.final_norm(x)

    def _skim_topk(self, block: Block, keep: float, x, live, received, want_received: bool):
        """Run ``block`` on the top ceil(keep·L) live tokens only, with static shapes.

        Tokens are gathered and scattered back with one-hot matrices (plain matmuls, which every
        runtime runs); [CLS] is always chosen, and live tokens before skimmed or padded ones. A chosen
        token that is not live (a sentence shorter than the budget) is masked and left as it was.
        """
        B, L, C = x.shape
        k = min(L, max(1, math.ceil(keep * L)))
        score = block.skim(x) if block.skim is not None else received  # (B, L)
        score = torch.where(live > 0, score, torch.full_like(score, -1e9))
        score = torch.cat([torch.full_like(score[:, :1], 1e9), score[:, 1:]], dim=1)
        index = score.topk(k, dim=1).indices  # (B, k)
        pick = (index.unsqueeze(-1) == torch.arange(L, device=x.device)).to(x.dtype)  # (B, k, L) one-hot rows
        xs = pick @ x  # (B, k, C)
        live_s = pick @ live.unsqueeze(-1)  # (B, k, 1)
        out = block(xs, _additive(live_s.squeeze(-1)), received=want_received)
        got = None
        if want_received:
            out, got = out
        if self.training and block.skim is not None:
            # Straight-through: the forward value is unchanged, and the predictor learns from how much
            # updating a chosen token helped.
            s = torch.sigmoid(pick @ score.unsqueeze(-1))
            out = xs + (1.0 + s - s.detach()) * (out - xs)
        out = xs + live_s * (out - xs)  # chosen padding stays as it was
        back = pick.transpose(1, 2)  # (B, L, k)
        chosen = back.sum(dim=-1, keepdim=True)  # (B, L, 1)
        x = x * (1.0 - chosen) + back @ out
        live = (back @ live_s).squeeze(-1)
        if got is not None:
            received = (back @ got.unsqueeze(-1)).squeeze(-1)
        return x, live, received

    def _skim_gumbel(self, block: Block, x, live, mask, attention_mask, temperature: float = 1.0):
        """Transkimmer's training-time skimming: every token's keep/skip drawn by Gumbel-softmax (straight-through)."""
        logit = block.skim(x)  # (B, L)
        u = torch.rand_like(logit).clamp(1e-6, 1 - 1e-6)
        soft = torch.sigmoid((logit + u.log() - (1 - u).log()) / temperature)
        keep = (soft > 0.5).to(x.dtype) + soft - soft.detach()
        keep = torch.cat([live[:, :1], (keep * live)[:, 1:]], dim=1)  # [CLS] always stays
        out = block(x, mask, key_weight=keep[:, None, None, :])
        x = x + keep.unsqueeze(-1) * (out - x)
        real = attention_mask.to(x.dtype)
        self.skim_kept.append((keep * real).sum() / real.sum())
        return x, keep

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence vector (B, C) as the head sees it, before the pre-classifier layer."""
        if self.config.pooling == "cls":
            return hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        x = pooled
        if self.pre_classifier is not None:
            x = _HEAD_ACTIVATIONS[self.config.head_activation](self.pre_classifier(x))
        if self.head_norm is not None:
            x = self.head_norm(x)
        return self.classifier(self.head_dropout(x))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        hidden = self.encode(input_ids, attention_mask, token_type_ids)
        return self.head(self.pool(hidden, attention_mask))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def parameter_groups(model: Classifier) -> dict[str, int]:
    """Parameters of the embeddings, the encoder blocks and the head: where the bytes go."""
    groups = {"embeddings": 0, "encoder": 0, "head": 0}
    for name, p in model.named_parameters():
        key = (
            "embeddings"
            if name.startswith("embeddings.")
            else "encoder"
            if name.startswith(("blocks.", "linformer.", "final_norm.", "relative."))
            else "head"
        )
        groups[key] += p.numel()
    return groups
