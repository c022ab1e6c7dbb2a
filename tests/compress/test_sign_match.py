"""Sign-matching attention: keys chosen by sign agreement, no change when k covers every key, export parity."""

import pytest
import torch

from ondevice.compress import compress_
from ondevice.compress.linformer import LinformerConfig
from ondevice.compress.sign_match import SignMatchConfig
from ondevice.compress.stats import flops
from ondevice.errors import ConfigError
from ondevice.model.checkpoint import save_checkpoint
from ondevice.model.encoder import MASK_VALUE, _sign_match_mask


def test_each_query_keeps_the_keys_that_agree_most_in_sign():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 10, 16), torch.randn(2, 3, 10, 16)
    mask = torch.zeros(2, 1, 1, 10)
    mask[1, ..., 7:] = MASK_VALUE  # the second sentence has 7 tokens
    keep = _sign_match_mask(q, k, mask, 4) == 0  # (B, H, L, L)
    agree = (torch.sign(q).unsqueeze(-2) == torch.sign(k).unsqueeze(-3)).sum(-1)  # dimensions that agree
    assert (keep.sum(-1) >= 4).all()
    assert not keep[1, ..., 7:].any()  # padding is never chosen while there are enough tokens
    for b in range(2):
        for h in range(3):
            for i in range(10):
                n = 10 if b == 0 else 7
                kept, dropped = agree[b, h, i, :n][keep[b, h, i, :n]], agree[b, h, i, :n][~keep[b, h, i, :n]]
                assert dropped.numel() == 0 or kept.min() >= dropped.max()


def test_k_covering_every_key_changes_nothing(tiny, tiny_inputs):
    ids, mask = tiny_inputs
    with torch.no_grad():
        dense = tiny.model.encode(ids, mask)
        compress_(tiny.model, SignMatchConfig(k=24))
        assert torch.allclose(tiny.model.encode(ids, mask), dense, atol=1e-6)
        compress_(tiny.model, SignMatchConfig(k=2))
        assert (tiny.model.encode(ids, mask) - dense)[:, :5].abs().max() > 1e-2  # the 5- and 7-token sentences


def test_flops_count_the_agreement_product_and_config_round_trips(tiny, tmp_path):
    from ondevice.model import load_model

    before = flops(tiny.model.config, 128)["encoder"]
    compress_(tiny.model, SignMatchConfig(k=8, layers=[1]))
    assert flops(tiny.model.config, 128)["encoder"] == before + 128 * 128 * 64 * 2
    again = load_model(str(save_checkpoint(tiny, tmp_path / "ck"))).model
    assert [b.attention.sign_match_k for b in again.blocks] == [0, 8]


@pytest.mark.parametrize("kwargs, message", [({"k": 0}, "positive integer"), ({"layers": [5]}, "no layers")])
def test_bad_sign_match_config_is_refused(tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compress_(tiny.model, SignMatchConfig(**kwargs))


def test_sign_match_with_linformer_is_refused(tiny):
    compress_(tiny.model, LinformerConfig(k=8, n=32))
    with pytest.raises(ConfigError, match="Linformer"):
        compress_(tiny.model, SignMatchConfig(k=4))


def test_sign_match_model_exports_and_verifies(tiny, tmp_path, export_verified):
    compress_(tiny.model, SignMatchConfig(k=6))
    export_verified(save_checkpoint(tiny, tmp_path / "ck"))
