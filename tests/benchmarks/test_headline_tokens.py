"""The headline feeds each artifact its own tokenizer's ids: a recipe that cut the vocabulary numbers
its pieces anew, and the fine-tuned model's ids index past its word table (the fifth search's pick made
ExecuTorch's embedding kernel abort the whole benchmark: index 11951 of 11147 rows)."""

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import headline  # noqa: E402


def test_each_bundle_is_fed_its_own_tokenizers_ids(tiny_bert_dir, sst2_train, tmp_path):
    from ondevice.compress import compress_
    from ondevice.compress.vocab import VocabConfig
    from ondevice.data import read_dataset
    from ondevice.model import load_model, save_checkpoint

    ckpt = load_model(str(tiny_bert_dir))
    texts = [r.split("\t", 1)[1] for r in sst2_train.read_text(encoding="utf-8").splitlines()[1:301]]
    rng = random.Random(0)
    data = tmp_path / "train.tsv"
    data.write_text("label\tcontent\n" + "".join(f"{rng.choice(ckpt.labels)}\t{t}\n" for t in texts))
    compress_(ckpt.model, VocabConfig(), student=ckpt, train=read_dataset(data, ckpt.labels))
    save_checkpoint(ckpt, tmp_path / "cut")

    items = [
        headline.Entry("pytorch eager fp32", "pytorch-eager", "pytorch", "fp32", tiny_bert_dir / "model.safetensors"),
        headline.Entry("onnxruntime int8", "onnxruntime", "onnx", "int8-dynamic", tmp_path / "stock" / "m.onnx"),
        headline.Entry("ondevice cut int8 .pte", "ondevice", "executorch", "int8-dynamic", tmp_path / "cut" / "m.pte"),
    ]
    headline.with_tokenizers(items, argparse.Namespace(model=tiny_bert_dir))
    eager, peer, cut = items
    assert peer.tokenizer is eager.tokenizer  # every peer takes the fine-tuned model's ids
    full = eager.tokenizer.backend.get_vocab_size()
    kept = cut.tokenizer.backend.get_vocab_size()
    assert kept < full
    renumbered = False
    for text in texts[:20]:
        ids, mask = headline.encode(eager.tokenizer, text, 128, np.int64)
        cut_ids, cut_mask = headline.encode(cut.tokenizer, text, 128, np.int64)
        assert cut_ids.max() < kept
        # the same pieces, numbered anew (a training text keeps its pieces)
        pieces = [eager.tokenizer.backend.id_to_token(int(i)) for i in ids[mask == 1]]
        assert pieces == [cut.tokenizer.backend.id_to_token(int(i)) for i in cut_ids[cut_mask == 1]]
        renumbered |= bool((ids != cut_ids).any())
    assert renumbered
