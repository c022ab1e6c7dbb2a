"""Vocabulary pruning (kind = "vocab") on MiniLM's real WordPiece vocabulary (the tiny random BERT carries it),
pruned on SST-2 training text: the training texts keep their ids up to the renumbering and the model its logits
exactly, the files reload, a factorized table is pruned too, and the app's Java core reads the pruned bundle as
Python does."""

import copy
import json
import random

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import compress_, config_from_dict, config_to_dict
from ondevice.compress.lowrank import LowRankConfig
from ondevice.compress.vocab import VocabConfig, greedy_walk
from ondevice.data import Dataset, Example, read_dataset
from ondevice.errors import ConfigError, DataError
from ondevice.model import Tokenizer, save_checkpoint
from ondevice.model.checkpoint import load_checkpoint

BIG = 10**9  # "no truncation" for Tokenizer.token_ids
TRAIN_ROWS = 3000
# Words MiniLM's vocabulary turns into [UNK] after matching pieces ("snow", "hello", "##world", ...): the
# walk to [UNK] must be kept, or the pruned vocabulary could split them into pieces instead.
UNKNOWN = ["snow☃man , and ☃", "helloworldzzq☃x", "a " + "x" * 101 + " word longer than 100 characters"]


@pytest.fixture(scope="module")
def sample_file(sst2_train, tmp_path_factory):
    """The first SST-2 training sentences and the [UNK] cases, labelled with the tiny model's classes."""
    rows = sst2_train.read_text(encoding="utf-8").splitlines()[1 : TRAIN_ROWS + 1]
    rng = random.Random(0)
    texts = [r.split("\t", 1)[1] for r in rows] + UNKNOWN
    f = tmp_path_factory.mktemp("vocab-data") / "train.tsv"
    f.write_text("label\tcontent\n" + "".join(f"{rng.choice('012')}\t{t}\n" for t in texts), encoding="utf-8")
    return f


@pytest.fixture
def sample(sample_file, tiny):
    return read_dataset(sample_file, tiny.labels)


def _logits(ckpt, texts) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), 256):
            inputs = ckpt.tokenizer(texts[s : s + 256], max_length=128, pad_to="longest")
            out.append(ckpt.model(*map(torch.as_tensor, inputs)))
    return torch.cat(out)


def _remap(before: Tokenizer, after: Tokenizer) -> dict[int, int]:
    new = after.backend.get_vocab(with_added_tokens=True)
    return {i: new[t] for t, i in before.backend.get_vocab(with_added_tokens=True).items() if t in new}


def _parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_training_texts_keep_their_ids_and_the_model_its_logits(tiny, sample):
    """Every training text's new ids are remap[old ids] at full length; the logits are bit for bit the same."""
    before = copy.deepcopy(tiny)
    report = compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    remap = _remap(before.tokenizer, tiny.tokenizer)
    old = before.tokenizer.token_ids(sample.texts, BIG)
    new = tiny.tokenizer.token_ids(sample.texts, BIG)
    assert all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))
    assert torch.equal(_logits(before, sample.texts), _logits(tiny, sample.texts))
    # The [UNK] words stay [UNK]: their walks were kept ("snow" is in no other text of the sample).
    unk = tiny.tokenizer.settings.unk_id
    assert all(unk in ids for ids in new[-len(UNKNOWN) :])
    assert report["unknown_word_walks"] > 0 and "snow" in tiny.tokenizer.backend.get_vocab()
    assert not any("snow" in t for t in sample.texts[: -len(UNKNOWN)])
    # Old order kept: [PAD] stays 0, the other specials move down past the dropped [unused] pieces.
    s = tiny.tokenizer.settings
    assert (s.pad_id, s.unk_id, s.cls_id, s.sep_id) == (0, 1, 2, 3) and tiny.config.pad_token_id == 0
    assert sorted(remap) == sorted(remap, key=remap.get)


def test_both_texts_of_a_pair_are_counted(tiny, sample):
    """A model of pairs: the second texts' pieces are kept too, and pairs keep their ids, types and logits."""
    tiny.tokenizer.settings.text_pair = tiny.tokenizer.settings.token_type_ids = True
    texts = sample.texts[:1000]
    pairs = Dataset([Example(a, 0, text_pair=b) for a, b in zip(texts[::2], texts[1::2], strict=True)], tiny.labels)
    before = copy.deepcopy(tiny)
    compress_(tiny.model, VocabConfig(), student=tiny, train=pairs)
    remap = _remap(before.tokenizer, tiny.tokenizer)
    (old, old_types), (new, new_types) = before.tokenizer.rows(pairs.texts, BIG), tiny.tokenizer.rows(pairs.texts, BIG)
    assert old_types == new_types and all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))
    assert torch.equal(_logits(before, pairs.texts), _logits(tiny, pairs.texts))
    # The second texts' pieces count: the first texts alone keep fewer.
    firsts = Dataset([Example(a, 0) for a in texts[::2]], tiny.labels)
    only_firsts = copy.deepcopy(before)
    only_firsts.tokenizer.settings.text_pair = False
    compress_(only_firsts.model, VocabConfig(), student=only_firsts, train=firsts)
    assert tiny.tokenizer.vocab_size > only_firsts.tokenizer.vocab_size


def test_vocabulary_and_parameters_shrink_by_the_dropped_rows(tiny, sample):
    before_params, before_vocab = _parameters(tiny.model), tiny.tokenizer.vocab_size
    report = compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    n = tiny.tokenizer.vocab_size
    assert before_vocab == 30522 and n == report["vocab_after"] == tiny.config.vocab_size
    assert n == report["used"] + report["special"] + report["unknown_word_walks"] < 30522 // 4
    assert before_params - _parameters(tiny.model) == (30522 - n) * tiny.config.hidden_size
    assert tiny.model.embeddings.word.weight.shape == (n, tiny.config.hidden_size)
    assert tiny.tokenizer.max_id == n - 1  # ids are 0..n-1: vocab.txt's line numbers


def test_extra_keeps_the_shortest_unused_pieces_and_the_training_ids(tiny, sample):
    base = copy.deepcopy(tiny)
    compress_(base.model, VocabConfig(), student=base, train=sample)
    before = copy.deepcopy(tiny)
    report = compress_(tiny.model, VocabConfig(extra=50), student=tiny, train=sample)
    assert report["extra"] == 50 and tiny.tokenizer.vocab_size == base.tokenizer.vocab_size + 50
    added = set(tiny.tokenizer.backend.get_vocab()) - set(base.tokenizer.backend.get_vocab())
    assert len(added) == 50 and all(len(t.removeprefix("##")) == 1 for t in added)
    remap = _remap(before.tokenizer, tiny.tokenizer)
    old, new = before.tokenizer.token_ids(sample.texts, BIG), tiny.tokenizer.token_ids(sample.texts, BIG)
    assert all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))


def test_the_greedy_walk_is_wordpieces(tiny, sst2_dev):
    """The walk replayed for [UNK] words is the tokenizer's own algorithm: same ids on every dev word."""
    backend = tiny.tokenizer.backend
    vocab = backend.get_vocab(with_added_tokens=False)
    texts = read_dataset(sst2_dev).texts + UNKNOWN
    words = {w for t in texts for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(t))}
    unk = tiny.tokenizer.settings.unk_id
    for w in sorted(words):
        want = [t.id for t in backend.model.tokenize(w)]
        got = greedy_walk(w, vocab, "##", 100)
        assert got == want or (want == [unk] and len(got) < len(w)), w


def test_saved_checkpoint_reloads_with_the_same_ids_and_logits(tiny, sample, sst2_dev, tmp_path):
    compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    save_checkpoint(tiny, tmp_path / "ck")
    back = load_checkpoint(tmp_path / "ck")
    n = tiny.tokenizer.vocab_size
    assert back.config.vocab_size == n and back.tokenizer.vocab_size == n
    assert len((tmp_path / "ck" / "vocab.txt").read_text(encoding="utf-8").splitlines()) == n
    data = json.loads((tmp_path / "ck" / "tokenizer.json").read_text(encoding="utf-8"))
    assert sorted(data["model"]["vocab"].values()) == list(range(n))
    specials = data["post_processor"]["special_tokens"]  # MiniLM's TemplateProcessing
    assert specials["[CLS]"]["ids"] == [2] and specials["[SEP]"]["ids"] == [3]
    assert [(t["content"], t["id"]) for t in data["added_tokens"]][:4] == [
        ("[PAD]", 0),
        ("[UNK]", 1),
        ("[CLS]", 2),
        ("[SEP]", 3),
    ]
    dev = read_dataset(sst2_dev).texts  # unseen text too: words the sample never used
    assert back.tokenizer.token_ids(dev, BIG) == tiny.tokenizer.token_ids(dev, BIG)
    assert torch.equal(_logits(back, dev[:300]), _logits(tiny, dev[:300]))
    # vocab.txt alone (what an older reader or a bundle without tokenizer.json uses) gives the same ids
    (tmp_path / "ck" / "tokenizer.json").unlink()
    assert Tokenizer.load(tmp_path / "ck").token_ids(dev, BIG) == tiny.tokenizer.token_ids(dev, BIG)


def test_a_tokenizer_from_vocab_txt_alone_is_pruned_too(tiny, sample, tiny_bert_dir):
    """A WordPiece tokenizer built from vocab.txt has BERT's BertProcessing post-processor: its ids move too."""
    tiny.tokenizer = Tokenizer.from_files(tiny.tokenizer.settings, None, tiny_bert_dir / "vocab.txt", "vocab.txt")
    before = copy.deepcopy(tiny)
    compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    proc = json.loads(tiny.tokenizer.backend.to_str())["post_processor"]
    assert proc["type"] == "BertProcessing" and proc["cls"] == ["[CLS]", 2] and proc["sep"] == ["[SEP]", 3]
    remap = _remap(before.tokenizer, tiny.tokenizer)
    old, new = before.tokenizer.token_ids(sample.texts, BIG), tiny.tokenizer.token_ids(sample.texts, BIG)
    assert all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))


def test_a_factorized_word_table_is_pruned_on_its_table(tiny, sample, tmp_path):
    compress_(tiny.model, LowRankConfig(embedding_rank=16), student=tiny)
    before, params = copy.deepcopy(tiny), _parameters(tiny.model)
    compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    n = tiny.tokenizer.vocab_size
    assert tiny.model.embeddings.word.table.weight.shape == (n, 16) and tiny.config.embedding_rank == 16
    assert params - _parameters(tiny.model) == (30522 - n) * 16
    assert torch.equal(_logits(before, sample.texts), _logits(tiny, sample.texts))
    save_checkpoint(tiny, tmp_path / "ck")
    assert torch.equal(_logits(load_checkpoint(tmp_path / "ck"), sample.texts[:64]), _logits(tiny, sample.texts[:64]))


def test_a_vocabulary_without_berts_example_ids_exports(tiny, tmp_path, export_verified):
    """Fewer ids than [CLS]'s 101 in BERT: the exporters trace with the model's own ids, and every format verifies."""
    f = tmp_path / "d.tsv"
    f.write_text("label\tcontent\n" + "".join(f"{i % 3}\tit is a fine film number {i} .\n" for i in range(20)))
    compress_(tiny.model, VocabConfig(), student=tiny, train=read_dataset(f, tiny.labels))
    assert tiny.tokenizer.vocab_size < 101
    save_checkpoint(tiny, tmp_path / "ck")
    export_verified(tmp_path / "ck")


def test_data_without_pieces_is_refused(tiny, tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("label\tcontent\n0\t\u200b\n1\t\u200b \u200b\n", encoding="utf-8")
    with pytest.raises(DataError, match="d.tsv: its 2 texts produce no word piece"):
        compress_(tiny.model, VocabConfig(), student=tiny, train=read_dataset(f, tiny.labels))
    assert tiny.config.vocab_size == 30522


@pytest.mark.parametrize(
    "d, message",
    [
        ({"kind": "vocab", "extras": 5}, "unknown fields: extras"),
        ({"kind": "vocab", "extra": -1}, "extra must be >= 0"),
        ({"kind": "vocab", "extra": "many"}, "extra must be an integer"),
    ],
)
def test_bad_configs_are_refused(d, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(d)


def test_config_round_trips():
    cfg = config_from_dict({"kind": "vocab", "extra": 100})
    assert config_to_dict(cfg) == {"kind": "vocab", "extra": 100} and config_from_dict(config_to_dict(cfg)) == cfg


RECIPE = """
name = "tiny-vocab"
seq_len = 32

[[step]]
kind = "vocab"

[[step]]
kind = "prune"
heads = 0.25
multiple_of = 8
calibration_size = 48

[[step]]
kind = "distill"
epochs = 1.0
batch_size = 16
evals_per_epoch = 1
"""


def test_compress_recipe_then_android_bundle_in_the_app_core(
    tiny_bert_dir, sample_file, sst2_dev, tmp_path, compress_cli, junit, java_classification_golden
):
    """`compress --recipe` with a vocab step (pruning after it scores heads on the renumbered calibration
    batches), `export --target android` verifies, and the app's Java core gives Python's ids, label and
    scores on every SST-2 dev sentence (words the training sample never used included)."""
    out, report = compress_cli(tiny_bert_dir, RECIPE, sample_file, tmp_path)
    steps = report["steps"]
    assert [s["kind"] for s in steps] == ["input", "vocab", "prune", "distill"]
    n = steps[1]["report"]["vocab_after"]
    assert steps[0]["parameters"] - steps[1]["parameters"] == (30522 - n) * 64
    assert json.loads((out / "config.json").read_text())["vocab_size"] == n

    assets = tmp_path / "assets" / "ondevice"
    args = ["export", str(out), "--target", "android", "--format", "executorch,onnx", "--quantize", "fp32"]
    args += [
        "--seq-len",
        "16,32,64",
        "--data",
        str(sample_file),
        "--out",
        str(tmp_path / "b"),
        "--copy-to",
        str(assets),
    ]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.stdout)
    assert manifest["target"] == "android" and {a["format"] for a in manifest["artifacts"]} == {"executorch", "onnx"}
    for a in manifest["artifacts"]:
        assert a["verification"]["max_abs_logit_diff"] <= 1e-3 and a["verification"]["label_agreement"] == 1.0
    assert Tokenizer.load(assets).vocab_size == n
    records = java_classification_golden(assets, read_dataset(sst2_dev).texts, tmp_path)
    assert len(records) == 872
    assert junit(tmp_path, tmp_path / "build", "ClassifierParityTest") == 1


def test_hidden_state_distillation_gives_the_teacher_its_own_ids(tiny, sample):
    """After a vocab step the student's ids are renumbered; hidden-state matching must run the teacher on
    the teacher's ids. A pruned copy of the teacher, without dropout, then matches it exactly: loss 0."""
    from ondevice.train import DistillConfig, distill

    teacher = copy.deepcopy(tiny)
    compress_(tiny.model, VocabConfig(), student=tiny, train=sample)
    for m in tiny.model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    data = sample.take(list(range(256)))
    cfg = DistillConfig(epochs=0.25, lr=1e-12, alpha=1.0, hidden_weight=1.0, select="last", max_length=32)
    result = distill(tiny, teacher, data, None, cfg)
    assert result.history and all(h["train_loss"] < 1e-6 for h in result.history)
