"""The export-friendly encoder, its config, checkpoint import/save and tokenizer glue."""

from ondevice.model.checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint
from ondevice.model.config import EncoderConfig, LayerConfig
from ondevice.model.encoder import Classifier
from ondevice.model.tokenizer import Tokenizer, TokenizerSettings

__all__ = [
    "Checkpoint",
    "Classifier",
    "EncoderConfig",
    "LayerConfig",
    "Tokenizer",
    "TokenizerSettings",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]
