"""ALBERT, ModernBERT, MobileBERT and DeBERTa-v2 in the one encoder: parity with transformers, export in
every format (ALBERT's shared block stored once), the shipped recipes, and the techniques that do not
apply refused.

Small random-weight models that `transformers` builds offline, with tokenizers trained here on SST-2
text: a SentencePiece Unigram model converted by transformers' ALBERT tokenizer (its lower-casing,
accent-stripping normalizer kept), and a byte-level BPE wrapped with ModernBERT's [CLS] ... [SEP]
template. MobileBERT keeps a WordPiece vocabulary (MiniLM's), as its checkpoints do, and DeBERTa borrows
it (v3's Unigram is the kind ALBERT's test covers). Run with ``-s`` to
see the parity figures and the artifact sizes.
"""

import json

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.model import load_model, save_checkpoint
from ondevice.model.checkpoint import load_checkpoint
from ondevice.model.config import EncoderConfig

LABELS = {0: "negative", 1: "positive"}
# albert: one block for 6 layers; albert-groups: 2 blocks for 4 layers; modernbert-mean: mean pooling
ARCHS = ("albert", "albert-groups", "modernbert", "modernbert-mean", "mobilebert", "deberta")
KIND = {"albert": "Unigram", "modernbert": "BPE", "mobilebert": "WordPiece", "deberta": "WordPiece"}


@pytest.fixture(scope="session")
def albert_tokenizer(sentencepiece_unigram, tmp_path_factory):
    """A SentencePiece Unigram model trained on SST-2 train text, converted by transformers' ALBERT tokenizer."""
    from transformers import AlbertTokenizer

    # ALBERT's own layout: <pad> 0, <unk> 1, [CLS] 2, [SEP] 3, [MASK] 4, no <s> or </s>
    layout = dict(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"])
    src = sentencepiece_unigram("albert-spm", "spiece.model", **layout)
    out = tmp_path_factory.mktemp("albert-tokenizer")
    AlbertTokenizer.from_pretrained(src).save_pretrained(out)
    assert json.loads((out / "tokenizer.json").read_text())["model"]["type"] == "Unigram"
    return out


@pytest.fixture(scope="session")
def modernbert_tokenizer(byte_level_bpe):
    """A byte-level BPE trained on SST-2 train text with ModernBERT's special tokens and template."""
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    names = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")
    return byte_level_bpe("modernbert-tokenizer", PreTrainedTokenizerFast, specials, ("[CLS]", "[SEP]"), **names)


def _hf_model(arch: str, tok):
    """A small random classifier of ``arch`` sized for tokenizer ``tok``, its classifier drawn so that
    the logits are of order 0.1 to 10 and a 1e-4 tolerance means something."""
    import transformers as t

    torch.manual_seed(ARCHS.index(arch))
    common = dict(
        vocab_size=len(tok),
        num_attention_heads=4,
        max_position_embeddings=128,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
        pad_token_id=tok.pad_token_id,
    )
    if arch.startswith("albert"):
        # 6 layers that share one block: big enough that a second copy of the block would show in the sizes
        layers = {"num_hidden_layers": 6}
        if arch == "albert-groups":
            layers = dict(num_hidden_layers=4, num_hidden_groups=2)
        # Drawn wider than ALBERT's 0.02: at 0.02 the two logits are within 0.1 of each other for half of
        # the sentences (with a unit classifier), less than int8's error after six runs of the block, so
        # the label agreement that export verifies would measure noise. At 0.05 they are apart by 9 to 12
        # and a classifier of 0.02 brings that to about 0.2, against int8's 0.005 and fp32's 4e-5.
        sizes = dict(hidden_size=128, intermediate_size=512, embedding_size=32, initializer_range=0.05)
        cfg = t.AlbertConfig(**layers, **sizes, **common)
        model = t.AlbertForSequenceClassification(cfg)
    elif arch == "mobilebert":  # MobileBERT's layout, narrower: blocks of 32 inside a hidden size of 64
        sizes = dict(hidden_size=64, intermediate_size=48, embedding_size=32, intra_bottleneck_size=32)
        model = t.MobileBertForSequenceClassification(t.MobileBertConfig(num_hidden_layers=3, **sizes, **common))
        # NoNorm does not normalize: with BERT's 0.02 initialisation the states fade to nothing, so every
        # linear is drawn with the spread that keeps them of order 1
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=m.in_features**-0.5)
    elif arch == "deberta":  # DeBERTa-v3's layout; 8 buckets, so that inputs of 16 and 32 reach the log ones
        relative = dict(relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"], share_att_key=True)
        sizes = dict(num_hidden_layers=3, hidden_size=64, intermediate_size=128, type_vocab_size=0)
        cfg = t.DebertaV2Config(**relative, norm_rel_ebd="layer_norm", position_biased_input=False, **sizes, **common)
        model = t.DebertaV2ForSequenceClassification(cfg)
    else:
        cfg = t.ModernBertConfig(
            num_hidden_layers=3,
            hidden_size=64,
            intermediate_size=96,
            local_attention=8,  # a window of 4 tokens each side, well inside the padded inputs
            global_attn_every_n_layers=2,  # global, local, global
            classifier_pooling="mean" if arch == "modernbert-mean" else "cls",
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            cls_token_id=tok.cls_token_id,
            sep_token_id=tok.sep_token_id,
            **common,
        )
        model = t.ModernBertForSequenceClassification(cfg)
    torch.nn.init.normal_(model.classifier.weight, std=0.02 if arch.startswith("albert") else 1.0)
    return model


@pytest.fixture(scope="session")
def hf_dir(hf_checkpoints, albert_tokenizer, modernbert_tokenizer, minilm_dir):
    """``hf_dir(arch)``: a checkpoint directory as transformers saves it, with its tokenizer files."""
    tokenizers = {"albert": albert_tokenizer, "modernbert": modernbert_tokenizer}
    return hf_checkpoints(lambda arch: tokenizers.get(arch.split("-")[0], minilm_dir), _hf_model)


# -- the encoder against transformers ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_logits_match_transformers(sentences, hf_dir, logits_parity, arch, batch, padded):
    ours = logits_parity(hf_dir(arch), sentences[:batch], padded, f"{arch:<15} batch {batch} padded {padded!s:<5}")
    assert ours.config.architecture == {"deberta": "deberta-v2"}.get(arch, arch.split("-")[0])


def test_variant_fields_come_from_the_checkpoint(hf_dir):
    albert = load_model(str(hf_dir("albert")))
    c = albert.config
    assert (c.num_layers, c.layer_groups, len(c.layers), len(albert.model.blocks)) == (6, 1, 1, 1)
    assert (c.embedding_size, c.hidden_act, c.type_vocab_size, c.head_activation) == (32, "gelu_new", 2, "tanh")
    groups = load_model(str(hf_dir("albert-groups"))).config
    assert [groups.block_of(i) for i in range(4)] == [0, 0, 1, 1]
    m = load_model(str(hf_dir("modernbert"))).config
    assert (m.norm_placement, m.position_kind, m.ffn_kind, m.type_vocab_size) == ("pre", "rotary", "gated", 0)
    assert (m.bias, m.norm_bias, m.head_bias, m.head_norm, m.head_activation) == (False, False, False, True, "gelu")
    assert [x.window for x in m.layers] == [0, 4, 0] and (m.rotary_theta, m.local_rotary_theta) == (160000.0, 10000.0)
    assert m.pooling == "cls" and load_model(str(hf_dir("modernbert-mean"))).config.pooling == "mean"
    mobile = load_model(str(hf_dir("mobilebert")))
    c = mobile.config
    assert (c.bottleneck_size, c.width, c.head_dim, c.ffn_stack, c.norm_kind, c.trigram_input) == (
        32,
        32,
        8,
        4,
        "no_norm",
        True,
    )
    assert (c.embedding_size, c.hidden_act, c.type_vocab_size) == (32, "relu", 2)
    block = mobile.model.blocks[0]
    assert len(block.stacked_ffns) == 3 and tuple(block.attention.value.weight.shape) == (32, 64)
    d = load_model(str(hf_dir("deberta"))).config
    assert (d.position_kind, d.relative_buckets, d.relative_span, d.max_relative_positions) == ("relative", 8, 8, 0)
    assert (d.type_vocab_size, d.layer_norm_eps, d.head_activation, d.architecture) == (0, 1e-7, "gelu", "deberta-v2")


def test_albert_stores_its_shared_block_once_and_counts_its_flops_per_layer(hf_dir):
    from ondevice.compress.stats import flops
    from ondevice.model.encoder import parameter_groups

    ckpt = load_model(str(hf_dir("albert")))
    groups = parameter_groups(ckpt.model)
    block = sum(p.numel() for p in ckpt.model.blocks[0].parameters())
    assert groups["encoder"] == block == ckpt.config.num_parameters() - groups["embeddings"] - groups["head"]
    one = EncoderConfig.from_dict({**ckpt.config.to_dict(), "num_layers": 1, "layer_groups": 1})
    assert flops(ckpt.config, 32)["encoder"] == 6 * flops(one, 32)["encoder"]


@pytest.mark.parametrize("arch", ["albert", "modernbert", "mobilebert", "deberta"])
def test_flops_are_the_products_the_model_computes(hf_dir, arch):
    """The FLOP count worked out from the config equals the multiply-adds of every linear the model
    runs (ALBERT's shared block once per layer, MobileBERT's bottlenecks and stacked FFNs) plus
    attention's two products per layer, at two FLOPs each, and the parameter count the model's."""
    from ondevice.compress.stats import flops

    ckpt = load_model(str(hf_dir(arch)))
    c, L, macs = ckpt.config, 32, []

    def count(m, args, out):
        macs.append(args[0].numel() // m.in_features * m.in_features * m.out_features)

    hooks = [m.register_forward_hook(count) for m in ckpt.model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        ckpt.model(torch.full((1, L), 5), torch.ones(1, L, dtype=torch.long))
    for h in hooks:
        h.remove()
    # scores and context, and DeBERTa's content-to-position and position-to-content scores
    span = 2 * L + (4 * c.relative_span if c.position_kind == "relative" else 0)
    attention = sum(span * L * x.num_heads * c.head_dim for x in c.applied_layers)
    assert flops(c, L)["total"] == 2 * (sum(macs) + attention)
    assert c.num_parameters() == ckpt.model.num_parameters()


@pytest.mark.parametrize("arch", ["albert", "modernbert"])
def test_checkpoint_round_trip(sentences, hf_dir, tmp_path, arch):
    """Saved as an ondevice checkpoint (the shared block once) and loaded back: the same config and logits."""
    ckpt = load_model(str(hf_dir(arch)))
    save_checkpoint(ckpt, tmp_path / "ck")
    back = load_checkpoint(tmp_path / "ck")
    assert back.config == ckpt.config and back.tokenizer.settings.kind == KIND[arch]
    ids, mask = (torch.tensor(x) for x in ckpt.tokenizer(sentences, max_length=24))
    with torch.no_grad():
        assert torch.equal(ckpt.model(ids, mask), back.model(ids, mask))


def test_old_configs_keep_their_meaning():
    """A version-5 config.json, written before these fields: post-norm, absolute positions, plain FFN,
    biases everywhere, a block per layer."""
    v5 = EncoderConfig(vocab_size=500, hidden_size=64, num_heads=4, num_layers=2).to_dict()
    new = ("layer_groups", "norm_placement", "position_kind", "rotary_theta", "local_rotary_theta", "ffn_kind")
    for k in (*new, "bias", "norm_bias", "head_bias", "head_norm"):
        v5.pop(k)
    for layer in v5["layers"]:
        layer.pop("window")
    old = EncoderConfig.from_dict({**v5, "schema_version": 5})
    assert (old.layer_groups, old.norm_placement, old.position_kind, old.ffn_kind) == (0, "post", "absolute", "plain")
    assert old.bias and old.norm_bias and old.head_bias and not old.head_norm and old.layers[0].window == 0
    assert old.num_blocks == 2 and EncoderConfig.from_dict(json.loads(json.dumps(old.to_dict()))) == old


# -- tokenizers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["albert", "modernbert"])
def test_tokenizer_ids_match_transformers(hf_dir, tokenizer_parity, arch):
    settings = tokenizer_parity(hf_dir(arch), KIND[arch])
    assert (settings.cls_token, settings.sep_token) == ("[CLS]", "[SEP]")


# -- export, compression, the Android app --------------------------------------------------------------


@pytest.mark.parametrize("arch", ["albert", "modernbert", "mobilebert", "deberta"])
def test_export_every_format_fp32_and_int8(sentences, hf_dir, export_every_format, tmp_path, arch):
    """Every format, fp32 and int8-dynamic, verified, each about the size of the model's weights; so
    ALBERT's hold its one block once, where six copies would add 5 × 198k parameters (4 MB in fp32, 1 MB
    in int8, ONNX's included: its quantizer reaches every use of the shared weights)."""
    m = export_every_format(hf_dir(arch), tmp_path / "bundle", KIND[arch], sentences[0])
    params = load_model(str(hf_dir(arch))).model.num_parameters()
    sizes = {(a["format"], a["quantization"]): a["size_bytes"] for a in m["artifacts"]}
    print(f"export {arch}: {params} parameters ({4 * params} bytes in fp32), artifacts {sizes}")
    for f in ("executorch", "tflite", "onnx"):
        assert sizes[f, "fp32"] < 4 * params * 1.1 + 200_000
        assert sizes[f, "int8-dynamic"] < min(sizes[f, "fp32"], 1.5 * params + 100_000)  # a byte a weight, and scales


@pytest.mark.parametrize("arch", ["albert", "modernbert"])
def test_android_bundle_classifies_in_the_app_core_as_in_python(
    hf_dir, sst2_dev, sst2_texts, dev_sample, tmp_path, arch, junit, java_classification_golden
):
    """ALBERT's Unigram and ModernBERT's BPE tokenizers are ones the app runs: `--target android` writes
    the bundle, and the app's Java core (Bundle.open, encode at the length it picks, Predictions) gives
    Python's ids, mask, length, label and scores on every SST-2 dev sentence (the model's part is the
    logits of the bundle's ONNX artifact, which the JVM cannot run)."""
    assets = tmp_path / "assets" / "ondevice"
    args = ["export", str(hf_dir(arch)), "--target", "android", "--format", "onnx", "--quantize", "fp32"]
    args += ["--seq-len", "16,32,64", "--data", str(dev_sample), "--out", str(tmp_path / "b"), "--copy-to", str(assets)]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["tokenizer"]["kind"] == KIND[arch]
    records = java_classification_golden(assets, sst2_texts(sst2_dev), tmp_path)
    assert len(records) == 872 and {r["seq_len"] for r in records} == {16, 32, 64}
    assert junit(tmp_path, tmp_path / "build", "ClassifierParityTest") == 1


@pytest.mark.parametrize("arch", ["albert", "modernbert", "mobilebert", "deberta"])
@pytest.mark.parametrize("recipe", ["conservative", "lowrank"])
def test_shipped_recipes(hf_dir, compress_and_export, tmp_path, arch, recipe):
    """The conservative (pruning) and lowrank (SVD) recipes: their shapes, then a verified export.
    ALBERT's pruning cuts its one shared block, so every layer loses the same heads and neurons."""
    config = compress_and_export(hf_dir(arch), recipe, tmp_path)
    layers = config["layers"]
    assert config["architecture"] == {"deberta": "deberta-v2"}.get(arch, arch)
    assert len(layers) == (1 if arch == "albert" else 3)
    if recipe == "conservative":  # an eighth of the heads (none of ALBERT's one block of 4), a quarter of the neurons
        heads = 4 * len(layers)
        assert sum(x["num_heads"] for x in layers) == heads - round(heads / 8)
        width = {"albert": 512, "modernbert": 96, "mobilebert": 48, "deberta": 128}[arch]
        assert sum(x["intermediate_size"] for x in layers) < width * len(layers)
    else:
        assert any(x["ranks"] for x in layers)
    if arch == "modernbert":
        assert [x["window"] for x in layers] == [0, 4, 0]


def test_android_takes_mobilebert_whose_tokenizer_is_wordpiece(hf_dir, dev_sample, tmp_path):
    """MobileBERT's WordPiece tokenizer is one the app runs: the android bundle is written and verified."""
    args = ["export", str(hf_dir("mobilebert")), "--target", "android", "--format", "executorch,tflite", "--json"]
    r = CliRunner().invoke(cli, [*args, "--seq-len", "16", "--data", str(dev_sample), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert all(a["verification"]["passed"] for a in json.loads(r.stdout)["artifacts"])


@pytest.mark.parametrize(
    ("arch", "step", "reason"),
    [
        ("modernbert", 'kind = "linformer"\nk = 8\nn = 16', "Linformer does not apply to this model"),
        ("modernbert", 'kind = "skim"\nkeep = 0.5\npredictor = "attention"', "token skimming does not apply"),
        ("albert", 'kind = "skim"\nkeep = 0.5\npredictor = "attention"', "layers share their weights (ALBERT)"),
        ("mobilebert", 'kind = "skim"\nkeep = 0.5\npredictor = "attention"', "MobileBERT's bottleneck blocks"),
        ("deberta", 'kind = "linformer"\nk = 8\nn = 16', "Linformer does not apply to this model"),
        ("deberta", 'kind = "skim"\nkeep = 0.5\npredictor = "attention"', "rotary or relative positions"),
    ],
)
def test_techniques_that_do_not_apply_say_so(hf_dir, dev_sample, tmp_path, arch, step, reason):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'name = "x"\nseq_len = 16\n\n[[step]]\n{step}\n')
    args = ["compress", str(hf_dir(arch)), "--recipe", str(recipe), "--data", str(dev_sample)]
    r = CliRunner().invoke(cli, [*args, "--dev", str(dev_sample), "--out", str(tmp_path / "ck")])
    assert r.exit_code != 0
    lines = [x for x in r.output.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1 and reason in lines[0], r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("arch", ["albert", "modernbert", "mobilebert", "deberta"])
def test_pair_logits_match_transformers(sentences, hf_dir, arch):
    """Sentence pairs, right-padded to 32 tokens and cut longest-first: the same logits as transformers,
    with the segments' token types where the architecture has them (ALBERT, MobileBERT)."""
    from transformers import AutoModelForSequenceClassification

    ours = load_model(str(hf_dir(arch)))
    settings = ours.tokenizer.settings
    settings.text_pair = True  # what finetune records for pair data
    settings.token_type_ids = ours.config.type_vocab_size > 1
    hf = AutoModelForSequenceClassification.from_pretrained(hf_dir(arch)).eval()
    pairs = list(zip(sentences, sentences[1:] + sentences[:1], strict=True))  # each with the next
    inputs = [torch.from_numpy(a) for a in ours.tokenizer(pairs, max_length=32)]
    with torch.no_grad():
        want = hf(**dict(zip(ours.tokenizer.input_names, inputs, strict=True))).logits
        d = (ours.model.eval()(*inputs) - want).abs().max().item()
    print(f"pair parity {arch}: max|Δlogit| {d:.2e} (max|logit| {want.abs().max().item():.2f})")
    assert d <= 1e-4
    assert len(inputs) == (3 if arch in ("albert", "mobilebert") else 2)
    if len(inputs) == 3:
        assert inputs[2].any()


@pytest.mark.parametrize("arch", ["albert", "modernbert"])
def test_vocab_pruning_keeps_the_training_ids_and_the_logits(hf_dir, vocab_pruning, arch):
    """ALBERT's Unigram (its factorized word table loses its rows) and ModernBERT's byte-level BPE."""
    vocab_pruning(hf_dir(arch), KIND[arch])
