"""The transformers reference of the headline benchmark computes what the ondevice model computes."""

import pytest
import torch

from ondevice.compress.prune import prune_heads_
from ondevice.errors import CheckpointError
from ondevice.model import load_model
from ondevice.model.hf import TransformersClassifier

SENTENCES = ["it 's a charming and often affecting journey .", "unflinchingly bleak and desperate", "ok"]


def test_same_logits_as_ondevice_model_on_real_minilm():
    ckpt = load_model(None)
    model = ckpt.model.eval()
    reference = TransformersClassifier(model).eval()
    assert reference.bert.config.num_hidden_layers == 6
    for pad_to in ("longest", "max_length"):
        ids, mask = (torch.as_tensor(a) for a in ckpt.tokenizer(SENTENCES, max_length=64, pad_to=pad_to))
        with torch.no_grad():
            ours, theirs = model(ids, mask), reference(ids, mask)
        assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_pruned_model_is_refused():
    model = load_model(None).model.eval()
    prune_heads_(model, 0, keep=list(range(2, 12)))
    with pytest.raises(CheckpointError, match="pruned or low-rank"):
        TransformersClassifier(model)
