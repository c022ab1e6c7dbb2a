"""Vocabulary pruning: keep the word pieces the training data uses, drop the rest of the word table.

MiniLM's word table (30522 × 384) holds about half of its weights, but one task's text uses a few
thousand pieces. This step tokenizes every training text (both texts of a pair) at full length with
the model's own tokenizer, keeps the pieces that appear, every special and added token, and
optionally ``extra`` more; then renumbers them 0..n-1 in their old order and rewrites, together, the
tokenizer (tokenizer.json's vocabulary, added tokens, post-processor ids; vocab.txt follows from it
on save), the word-embedding rows (dense, or the table of a factorized one: its projection is
untouched) and ``model.config`` (vocab_size, pad_token_id). Python, the bundle and the app read the
same rewritten files, so they give the same ids.

Why the training texts keep their tokenization, kind by kind. WordPiece (BERT, MiniLM, DistilBERT,
ELECTRA, MobileBERT) splits a word greedily, taking at each position the longest piece of the
vocabulary that matches there. Let V be the full vocabulary and K ⊆ V the kept one, with every piece
that V's greedy walk over a training word matched in K. At each position the walk over K finds the
piece p that V's walk found (p ∈ K), and no longer one (a longer match in K would be in V, and V's
walk would have taken it): the same split, piece by piece.
A word V turns into [UNK] (a position with no match) is the one case where the matched pieces are
not in the output; their walk is replayed here and its pieces kept, so the walk over K fails at the
same position and the word is [UNK] again. Renumbering keeps the old order, so new ids are remap[old].

The accuracy cost is at inference: a word the training data never used now splits into shorter
pieces, or becomes [UNK] when no kept piece matches, where the full vocabulary had a piece for it.

Ids: the kept pieces keep their relative order, so [PAD] = 0 stays 0 in BERT's vocabulary, and the
other special tokens move down ([UNK] from 100 to 1 once the [unused] pieces are gone).

Byte-level BPE (RoBERTa, ModernBERT): BPE merges a word's symbols pair by pair, at each step the
adjacent pair of lowest rank in the merge list. A training word's merges all produce tokens that are
kept: the final ones are used, and every intermediate one is a merge ancestor of a final one; so each
kept token keeps every merge that produces it, with both operands (their ancestors in turn). The merge
list keeps the merges whose result is kept, in their old order. At each step of a training word, the
merge the full list chose is in the kept list, and every pair the kept list could merge there the full
list could too, at the same relative rank: the same merge is chosen, step by step. Tokens that no merge
produces (the 256-symbol byte alphabet of a byte-level BPE, byte-fallback tokens) are all kept, so any
text can still be spelled out, and no character is dropped.

Unigram (XLM-RoBERTa, CamemBERT, ALBERT): a text's pieces are the segmentation of highest total score
(Viterbi) over the vocabulary's pieces; a character no one-character piece covers is an unknown piece
scored 10 below the vocabulary's lowest score. Keeping the piece of lowest score keeps that penalty.
The best segmentation of a training text then uses kept pieces only, and every segmentation over the
kept vocabulary existed before with the same score, or scores below one that did (an unknown piece
where a dropped one-character piece stood, which scored above the penalty): the best stays the best.
With byte fallback, the 256 byte pieces are kept.

``extra`` more pieces: WordPiece ranks the unused pieces shortest first (it carries no frequencies);
BPE by the rank of the merge that first produces them (a BPE is trained most frequent pair first);
Unigram by score (a piece's log probability), highest first.

The Android app's core reads the same rewritten tokenizer.json (vocabulary, merges, scores) and
computes the same lowest score from it, so it gives the same ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ondevice.compress import technique
from ondevice.errors import ConfigError, DataError
from ondevice.limits import prepare_batch
from ondevice.model.tokenizer import Tokenizer

BATCH = 4096  # texts per encode_batch call: bounds the encodings held at once
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")  # a byte-fallback piece


@dataclass
class VocabConfig:
    """What to keep besides the pieces the training data uses and the special tokens.

    ``extra`` ranks the unused pieces of a WordPiece vocabulary shortest first (the continuing prefix
    ``##`` not counted), then by id. A WordPiece vocabulary carries no frequencies (its id order is not
    one), so frequency cannot rank them; length can: a single character kept lets any unseen word
    containing it be spelled out in pieces instead of becoming [UNK], and short pieces are shared by the
    most words. BPE tokens are taken in the order of their merges (most frequent pair first, as a BPE is
    trained), Unigram pieces by score.
    """

    extra: int = 0  # also keep this many pieces the training data does not use (the most useful first)

    def __post_init__(self) -> None:
        if self.extra < 0:
            raise ConfigError(f"vocab: extra must be >= 0, got {self.extra}")


def piece_counts(tokenizer: Tokenizer, texts) -> np.ndarray:
    """How many times each id occurs in the full-length encodings of ``texts`` (specials included)."""
    backend = tokenizer.backend
    counts = np.zeros(tokenizer.max_id + 1, dtype=np.int64)
    for s in range(0, len(texts), BATCH):
        encs = backend.encode_batch(prepare_batch(texts[s : s + BATCH], tokenizer.settings.text_pair))
        ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64)
        counts += np.bincount(ids, minlength=len(counts))
    return counts


def greedy_walk(word: str, vocab: dict[str, int], prefix: str, max_chars: int) -> list[int]:
    """The ids WordPiece's greedy longest match takes on ``word``, up to where it fails (if it does)."""
    if len(word) > max_chars:  # such a word is [UNK] before any piece is looked up
        return []
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                ids.append(vocab[piece])
                break
            end -= 1
        if end == start:
            return ids
        start = end
    return ids


def unknown_word_walks(tokenizer: Tokenizer, texts) -> set[int]:
    """The pieces matched on the way to [UNK]: for each word of ``texts`` that became [UNK], the greedy
    walk over it (normalized and pre-tokenized as the tokenizer does) up to where it failed."""
    backend, unk = tokenizer.backend, tokenizer.settings.unk_id
    model = backend.model
    vocab = backend.get_vocab(with_added_tokens=False)
    found: set[int] = set()
    for s in range(0, len(texts), BATCH):
        batch = prepare_batch(texts[s : s + BATCH], tokenizer.settings.text_pair)
        for text, enc in zip(batch, backend.encode_batch(batch), strict=True):
            if unk not in enc.ids:
                continue
            for tid, seq, (a, b) in zip(enc.ids, enc.sequence_ids, enc.offsets, strict=True):
                if tid != unk or seq is None:
                    continue
                word = (text if isinstance(text, str) else text[seq])[a:b]
                if backend.normalizer is not None:
                    word = backend.normalizer.normalize_str(word)
                parts = backend.pre_tokenizer.pre_tokenize_str(word) if backend.pre_tokenizer else [(word, None)]
                for w, _ in parts:
                    found.update(greedy_walk(w, vocab, model.continuing_subword_prefix, model.max_input_chars_per_word))
    return found


def merges_made(model: dict) -> list[tuple[int | None, int | None, int | None]]:
    """Each merge of a BPE tokenizer.json as the ids (left, right, made), in rank order; None for a token
    the vocabulary lacks. Merges are written as "a b" strings or as [a, b] lists; the token a merge makes
    is built as `tokenizers` builds it, the right part less a continuing prefix."""
    vocab, cut = model["vocab"], len(model.get("continuing_subword_prefix") or "")
    pairs = (m.split(" ", 1) if isinstance(m, str) else m for m in model.get("merges") or [])
    return [(vocab.get(a), vocab.get(b), vocab.get(a + b[cut:])) for a, b in pairs]


def bpe_makers(model: dict) -> dict[int, list[tuple[int, int]]]:
    """For each token a BPE's merges make, the (left, right) ids of every merge that makes it."""
    makers = {}
    for left, right, made in merges_made(model):
        if None not in (left, right, made):
            makers.setdefault(made, []).append((left, right))
    return makers


def merge_ancestors(makers: dict[int, list[tuple[int, int]]], ids: set[int], keep: set[int]) -> set[int]:
    """Every operand of a merge that makes one of ``ids``, and theirs in turn, that ``keep`` lacks."""
    found, todo = set(), list(ids)
    while todo:
        for pair in makers.get(todo.pop(), ()):
            for i in pair:
                if i not in keep and i not in found:
                    found.add(i)
                    todo.append(i)
    return found


def _extra_order(kind: str, model: dict, keep: set[int]) -> list[int]:
    """The ids not in ``keep``, in the order ``extra`` takes them (see the module's docstring)."""
    if kind == "Unigram":
        scores = [(-float(score), i) for i, (_, score) in enumerate(model["vocab"]) if i not in keep]
        return [i for _, i in sorted(scores)]
    if kind == "BPE":
        return list(dict.fromkeys(made for *_, made in merges_made(model) if made is not None and made not in keep))
    vocab = model["vocab"]
    prefix = model.get("continuing_subword_prefix") or ""
    return [i for _, i in sorted((len(t.removeprefix(prefix)), i) for t, i in vocab.items() if i not in keep)]


def kept_ids(tokenizer: Tokenizer, texts, extra: int, where: str = "the training data") -> tuple[np.ndarray, dict]:
    """The old ids to keep, ascending, and what chose them.

    Raises:
        DataError: the texts (read from ``where``) produce no word piece besides the special tokens.
    """
    counts = piece_counts(tokenizer, texts)
    special = {t.content for t in tokenizer.backend.get_added_tokens_decoder().values()}
    s = tokenizer.settings
    special |= {s.cls_token, s.sep_token, s.pad_token, s.unk_token}
    model = json.loads(tokenizer.backend.to_str())["model"]
    if isinstance(model.get("unk_token"), str):  # the model's own unknown token (WordPiece, BPE)
        special.add(model["unk_token"])
    vocab = tokenizer.backend.get_vocab(with_added_tokens=True)
    special_ids = {vocab[t] for t in special if t in vocab}
    if model.get("unk_id") is not None:  # Unigram's
        special_ids.add(int(model["unk_id"]))
    used = {int(i) for i in np.flatnonzero(counts)} - special_ids
    if not used:
        raise DataError(
            f"{where}: its {len(texts)} texts produce no word piece besides the special tokens; "
            "vocabulary pruning has nothing to keep the vocabulary for"
        )
    keep = used | special_ids
    report = {"used": len(used), "special": len(special_ids)}
    if s.kind == "WordPiece":
        walked = unknown_word_walks(tokenizer, texts) - keep
        report["unknown_word_walks"] = len(walked)
        keep |= walked
    elif s.kind == "BPE":
        makers = bpe_makers(model)
        ancestors = merge_ancestors(makers, keep, keep)
        alphabet = {i for i in model["vocab"].values() if i not in makers} - keep - ancestors
        report |= {"merge_ancestors": len(ancestors), "alphabet": len(alphabet)}
        keep |= ancestors | alphabet
    else:  # Unigram
        pieces = model["vocab"]
        lowest = {min(range(len(pieces)), key=lambda i: float(pieces[i][1]))} - keep
        fallback = {i for i, (p, _) in enumerate(pieces) if BYTE_PIECE.fullmatch(p)}
        fallback = fallback if model.get("byte_fallback") else set()
        report |= {"lowest_score": len(lowest), "byte_fallback": len(fallback - keep - lowest)}
        keep |= lowest | fallback
    before = len(keep)
    for i in _extra_order(s.kind, model, keep):
        if len(keep) - before >= extra:
            break
        keep.add(i)
        if s.kind == "BPE":  # a trained BPE's merges come after their operands'; should one not, it is kept too
            keep |= merge_ancestors(makers, {i}, keep)
    report |= {"extra": len(keep) - before, "occurrences": int(counts.sum())}
    return np.array(sorted(keep), dtype=np.int64), report


def _remap_processor(proc: dict | None, remap: np.ndarray) -> None:
    """The special ids a post-processor inserts, renumbered in place (tokenizer.json's layout)."""
    if not proc:
        return
    kind = proc.get("type")
    if kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("cls", "sep"):
            token, tid = proc[key]
            proc[key] = [token, int(remap[tid])]
    elif kind == "TemplateProcessing":
        for spec in proc.get("special_tokens", {}).values():
            spec["ids"] = [int(remap[i]) for i in spec["ids"]]
    elif kind == "Sequence":
        for p in proc.get("processors", []):
            _remap_processor(p, remap)


def pruned_tokenizer(tokenizer: Tokenizer, keep: np.ndarray) -> tuple[Tokenizer, np.ndarray]:
    """The tokenizer with only the ``keep`` ids, renumbered 0..n-1 in their old order; and old -> new
    (-1 for a dropped id)."""
    from tokenizers import Tokenizer as Backend

    remap = np.full(tokenizer.max_id + 1, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    data = json.loads(tokenizer.backend.to_str())
    model = data["model"]
    if tokenizer.settings.kind == "Unigram":  # a list of [piece, score]: an id is its place
        model["vocab"] = [p for i, p in enumerate(model["vocab"]) if remap[i] >= 0]
        if model.get("unk_id") is not None:
            model["unk_id"] = int(remap[model["unk_id"]])
    else:
        old = model["vocab"]
        if tokenizer.settings.kind == "BPE":  # a merge stays when what it makes stays (its operands do then)
            made = [m for *_, m in merges_made(model)]
            model["merges"] = [m for m, i in zip(model["merges"], made, strict=True) if i is not None and remap[i] >= 0]
        model["vocab"] = {t: int(remap[i]) for t, i in old.items() if remap[i] >= 0}
    for added in data.get("added_tokens") or []:
        added["id"] = int(remap[added["id"]])
    _remap_processor(data.get("post_processor"), remap)
    if data.get("padding"):
        data["padding"]["pad_id"] = int(remap[data["padding"]["pad_id"]])
    backend = Backend.from_str(json.dumps(data))
    settings = replace(tokenizer.settings)
    for name in ("cls", "sep", "pad", "unk"):
        setattr(settings, f"{name}_id", backend.token_to_id(getattr(settings, f"{name}_token")))
    return Tokenizer(backend, settings), remap


@torch.no_grad()
def slice_word_table_(model, keep: np.ndarray) -> int:
    """Keep rows ``keep`` of the word table (a factorized one's (vocab, r) table); returns the rows dropped."""
    word = model.embeddings.word
    table = word.table if hasattr(word, "table") else word
    rows = torch.as_tensor(keep)
    dropped = table.num_embeddings - len(keep)
    table.weight = nn.Parameter(table.weight.data[rows].clone())
    table.num_embeddings = len(keep)
    return dropped


@technique(VocabConfig, "vocab")
def apply_vocab(model, cfg: VocabConfig, student=None, train=None, calibration=None, **_) -> dict:
    """Prune the vocabulary of ``student`` (whose model is ``model``) to what ``train`` uses; the
    calibration batches, tokenized before this step, are renumbered too."""
    if student is None or train is None:
        raise ConfigError("vocab needs the model's tokenizer and the training data (--data)")
    if student.model is not model:
        raise ConfigError("vocab: the student checkpoint must hold the model being compressed")
    before = student.tokenizer.vocab_size
    keep, report = kept_ids(student.tokenizer, train.texts, cfg.extra, train.path or "the training data")
    keep = np.union1d(keep, [model.config.pad_token_id])  # the config's padding row, should it not be [PAD]
    student.tokenizer, remap = pruned_tokenizer(student.tokenizer, keep)
    table = torch.as_tensor(remap)
    if calibration is not None:
        calibration.batches = [((table[x[0]], *x[1:]), y) for x, y in calibration.batches]
    slice_word_table_(model, keep)
    model.config.vocab_size = len(keep)
    model.config.pad_token_id = int(remap[model.config.pad_token_id])
    return {**report, "vocab_before": before, "vocab_after": len(keep)}
