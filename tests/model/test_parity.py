"""Our encoder against transformers on the same weights: logits and last hidden states within 1e-4."""

import pytest
import torch

from ondevice.model import load_model

TOL = 1e-4
SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
]


def _inputs(ckpt, batch: int, padded: bool):
    texts = SENTENCES[:batch]
    if padded:  # pad to a fixed length well past the longest sentence
        ids, mask = ckpt.tokenizer(texts, max_length=32, pad_to="max_length")
    else:
        ids, mask = ckpt.tokenizer(texts[:1] * batch, pad_to="longest")
        assert mask.all()
    return torch.tensor(ids), torch.tensor(mask)


def _compare(ours, theirs, ids, mask, hidden_of):
    with torch.no_grad():
        out = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        logits = ours.model(ids, mask)
        hidden = ours.model.encode(ids, mask)
    m = mask.bool()
    assert (logits - out.logits).abs().max().item() <= TOL
    # Padded positions are not outputs of either model; compare the real tokens.
    assert (hidden - hidden_of(out))[m].abs().max().item() <= TOL


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_minilm_real_weights(minilm_dir, tmp_path_factory, batch, padded):
    from transformers import BertForSequenceClassification

    # The real MiniLM encoder with a (randomly initialised, seeded) classification head,
    # saved by transformers, so that both sides hold exactly the same tensors.
    d = tmp_path_factory.mktemp("minilm-cls")
    torch.manual_seed(0)
    hf = BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=2).eval()
    hf.save_pretrained(d)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (d / name).write_bytes((minilm_dir / name).read_bytes())
    ours = load_model(str(d))
    assert ours.config.pooling == "cls" and ours.info["fresh_head"] == []
    ids, mask = _inputs(ours, batch, padded)
    _compare(ours, hf, ids, mask, lambda o: o.hidden_states[-1])


def test_minilm_sentence_transformers_layout_mean_pooling(minilm_dir):
    """The bundled package's layout: BertModel weights, mean pooling from 1_Pooling/config.json."""
    from transformers import AutoModel

    ours = load_model("all-MiniLM-L6-v2")
    assert ours.config.pooling == "mean"
    hf = AutoModel.from_pretrained(minilm_dir).eval()
    ids, mask = _inputs(ours, 4, True)
    with torch.no_grad():
        h = hf(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        sentence = (h * m).sum(1) / m.sum(1)
        ours_sentence = ours.model.pool(ours.model.encode(ids, mask), mask)
    assert (ours_sentence - sentence).abs().max().item() <= TOL


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_tiny_bert(tiny_bert_dir, batch, padded):
    from transformers import BertForSequenceClassification

    ours = load_model(str(tiny_bert_dir))
    assert ours.labels == ["neg", "neu", "pos"]
    hf = BertForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    ids, mask = _inputs(ours, batch, padded)
    _compare(ours, hf, ids, mask, lambda o: o.hidden_states[-1])


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_tiny_distilbert_from_pytorch_bin(tiny_distilbert_dir, batch, padded):
    from transformers import DistilBertForSequenceClassification

    assert (tiny_distilbert_dir / "pytorch_model.bin").is_file()
    ours = load_model(str(tiny_distilbert_dir))
    assert ours.config.type_vocab_size == 0 and ours.config.head_activation == "relu"
    hf = DistilBertForSequenceClassification.from_pretrained(tiny_distilbert_dir).eval()
    ids, mask = _inputs(ours, batch, padded)
    _compare(ours, hf, ids, mask, lambda o: o.hidden_states[-1])
