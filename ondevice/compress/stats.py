"""Parameters and FLOPs of a (compressed) classifier at a sequence length, from its config alone."""

from __future__ import annotations

import math

from ondevice.model.config import EncoderConfig
from ondevice.model.encoder import SKIM_INNER, parameter_groups


def _linear_macs(in_f: int, out_f: int, rank: int) -> int:
    return rank * (in_f + out_f) if rank else in_f * out_f


def flops(config: EncoderConfig, seq_len: int) -> dict[str, int]:
    """Floating-point operations (2 per multiply-add) of one sequence of ``seq_len`` tokens.

    Counts the matrix products (linears and attention), which are nearly all of the work; norms,
    softmax and activations are left out. Returns the embeddings, encoder and head parts and the total.
    """
    C, D, L, W = config.hidden_size, config.head_dim, seq_len, config.width
    E = config.embedding_dim
    emb = L * config.embedding_rank * E if config.embedding_rank else 0  # the factorized table's projection
    if config.trigram_input:
        emb += L * 3 * E * C  # MobileBERT's projection of three neighbours' rows
    elif E != C:
        emb += L * E * C  # ELECTRA's and ALBERT's projection of their narrower embeddings
    enc = 0
    for layer in config.applied_layers:  # a block that ALBERT's layers share costs once per layer
        r = layer.ranks
        L = seq_len
        if layer.skim_keep:  # the block computes k of the L tokens, gathered and scattered by one-hot matmuls
            k = min(L, max(1, math.ceil(layer.skim_keep * L)))
            enc += 2 * k * L * C + k * L
            if config.skim_predictor == "learned":
                enc += L * (C * SKIM_INNER + SKIM_INNER)
            L = k
        if W != C:  # MobileBERT's input, query-key and output bottlenecks, and its stacked FFNs
            enc += L * (3 * C * W + (config.ffn_stack - 1) * 2 * W * config.intermediate_size)
        if layer.num_heads:
            inner = layer.num_heads * D
            enc += L * sum(_linear_macs(W, inner, r.get(p, 0)) for p in ("query", "key"))
            enc += L * _linear_macs(C, inner, r.get("value", 0))  # values read the block input
            enc += L * _linear_macs(inner, W, r.get("output", 0))
            if config.position_kind == "relative":  # DeBERTa: the distance table projected as keys and
                S2 = 2 * config.relative_span  # as queries, then each token's content against it twice
                enc += S2 * sum(_linear_macs(C, inner, r.get(p, 0)) for p in ("query", "key")) + 2 * L * S2 * inner
            if layer.linformer_k:  # keys and values projected to k positions, then scores and context over k
                k = layer.linformer_k
                enc += 2 * k * L * inner + 2 * L * k * inner
            else:
                enc += 2 * L * L * inner  # scores and context
                if layer.sign_match_k:  # the ±1 agreement matrix the keys are chosen by
                    enc += L * L * inner
        if layer.intermediate_size:
            F = layer.intermediate_size
            enc += L * (_linear_macs(W, F, r.get("up", 0)) + _linear_macs(F, W, r.get("down", 0)))
            if config.ffn_kind == "gated":
                enc += L * _linear_macs(W, F, r.get("gate", 0))
    head = (C * C if config.head_activation != "none" else 0) + C * config.num_labels
    parts = {"embeddings": 2 * emb, "encoder": 2 * enc, "head": 2 * head}
    return {**parts, "total": sum(parts.values())}


def summary(model, seq_len: int) -> dict:
    groups = parameter_groups(model)
    return {
        "parameters": sum(groups.values()),
        "parameters_by_part": groups,
        "seq_len": seq_len,
        "flops": flops(model.config, seq_len),
    }
