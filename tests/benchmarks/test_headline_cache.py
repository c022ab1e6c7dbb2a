"""The headline benchmark's build cache: a product is reused while what it was made from is unchanged."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import headline  # noqa: E402


def test_a_product_is_fresh_only_with_its_recorded_key_and_its_file(tmp_path):
    product = tmp_path / "bundle-mobile" / "ondevice.json"
    ledger = headline.Ledger(tmp_path)
    assert not ledger.fresh("export mobile", "k1", product)  # never built
    product.parent.mkdir()
    product.write_text("{}")
    assert not ledger.fresh("export mobile", "k1", product)  # there, but its build never finished: redone
    ledger.done("export mobile", "k1", time.time() - 2.0)

    again = headline.Ledger(tmp_path)  # the next run reads what this one recorded
    assert again.fresh("export mobile", "k1", product)
    assert not again.fresh("export mobile", "k2", product)  # made from something else
    assert again.seconds["export mobile"] >= 2.0
    product.unlink()
    assert not again.fresh("export mobile", "k1", product)  # deleted by hand


def test_keys_follow_the_contents_of_files_and_directories(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 384}')
    (model / "model.safetensors").write_bytes(b"weights")
    before = headline._sha(model)
    assert headline._sha(model) == before
    (model / "model.safetensors").write_bytes(b"weights, fine-tuned again")
    changed = headline._sha(model)
    assert changed != before
    recipe = tmp_path / "mobile.toml"
    recipe.write_text("neurons = 0.6\n")
    a = headline._key(model=changed, recipe=recipe.read_text())
    recipe.write_text("neurons = 0.5\n")
    assert headline._key(model=changed, recipe=recipe.read_text()) != a
    assert headline._key(model=changed, recipe="neurons = 0.6\n") == a
