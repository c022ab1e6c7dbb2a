"""The encoder exports with torch.export and survives pt2e dynamic int8 quantization for XNNPACK."""

import numpy as np
import torch

from ondevice.data import read_dataset

BATCH, LENGTH = 8, 64  # SST-2 dev's longest sentence is 60 tokens


def _accuracy(fn, ids, mask, targets) -> float:
    preds = []
    for i in range(0, len(ids), BATCH):
        a, b = ids[i : i + BATCH], mask[i : i + BATCH]
        n = len(a)
        if n < BATCH:  # static shapes: pad the last batch with copies of its first row
            a = torch.cat([a, a[:1].repeat(BATCH - n, 1)])
            b = torch.cat([b, b[:1].repeat(BATCH - n, 1)])
        with torch.no_grad():
            preds.append(fn(a, b)[:n].argmax(-1))
    return float((torch.cat(preds).numpy() == np.asarray(targets)).mean())


def test_torch_export_has_no_data_dependent_ops(default_ckpt):
    ids, mask = (torch.tensor(x) for x in default_ckpt.tokenizer(["a fine film ."] * 2, max_length=32))
    ep = torch.export.export(default_ckpt.model, (ids, mask), strict=True)
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any(t in targets for t in ("aten.nonzero.default", "aten.index.Tensor", "aten.masked_select.default"))
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(ids, mask), default_ckpt.model(ids, mask), rtol=0, atol=1e-5)


def test_pt2e_dynamic_int8_keeps_sst2_accuracy(default_ckpt, sst2_dev):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    model = default_ckpt.model.eval()
    dev = read_dataset(sst2_dev, default_ckpt.labels)
    ids, mask = (torch.tensor(x) for x in default_ckpt.tokenizer(dev.texts, max_length=LENGTH))
    example = (ids[:BATCH], mask[:BATCH])
    graph = torch.export.export(model, example).module()
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    prepared = prepare_pt2e(graph, quantizer)
    prepared(*example)
    quantized = convert_pt2e(prepared)
    n_quant = sum("quantize" in str(n.target) for n in quantized.graph.nodes)
    assert n_quant >= 6 * 6  # every linear of every block is quantized, not only a few

    fp32 = _accuracy(model, ids, mask, dev.targets)
    int8 = _accuracy(quantized, ids, mask, dev.targets)
    print(f"SST-2 dev accuracy: fp32 {fp32:.4f}, pt2e dynamic int8 {int8:.4f}")
    assert fp32 > 0.75
    assert int8 >= fp32 - 0.01
