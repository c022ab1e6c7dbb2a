"""Tokenization through the `tokenizers` fast tokenizer, with the settings an app needs.

Three kinds, as tokenizer.json's ``model.type`` names them: WordPiece (BERT, DistilBERT, ELECTRA,
MobileBERT; also from a bare vocab.txt), byte-level BPE (RoBERTa, ModernBERT) and SentencePiece Unigram
with its normalizer (XLM-RoBERTa, CamemBERT, ALBERT, DeBERTa-v3). The kind and the special tokens are
recorded in the settings, so that a reader of the bundle knows which algorithm reproduces the ids;
tokenizer.json holds the rest.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ondevice.errors import CheckpointError
from ondevice.jsonfile import read_json
from ondevice.limits import prepare_batch

SETTINGS_FILE = "tokenizer_settings.json"
KINDS = ("WordPiece", "BPE", "Unigram")  # tokenizer.json's model.type; anything else is refused


@dataclass
class TokenizerSettings:
    """What a runtime must know to reproduce the ids: written next to every model.

    The normalizer fields (lowercase, strip_accents, tokenize_chinese_chars) and the WordPiece fields
    (max_input_chars_per_word, continuing_subword_prefix) describe a WordPiece tokenizer; BPE and
    Unigram tokenizers carry their normalization in tokenizer.json.
    """

    kind: str = "WordPiece"  # one of KINDS; settings written before there were others are WordPiece
    lowercase: bool = True
    strip_accents: bool | None = None  # None: strip when lower-casing, as BERT does
    tokenize_chinese_chars: bool = True
    max_length: int = 128  # the model's fixed sequence length, [CLS] and [SEP] included
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    pad_token: str = "[PAD]"
    unk_token: str = "[UNK]"
    cls_id: int = 101
    sep_id: int = 102
    pad_id: int = 0
    unk_id: int = 100
    max_input_chars_per_word: int = 100
    continuing_subword_prefix: str = "##"
    # Sentence pairs: the model classifies (text, text_pair), encoded by tokenizer.json's post-processor
    # ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>) after longest-first truncation; and whether the
    # model takes the segments' token types as a third input (architectures with a token-type table).
    text_pair: bool = False
    token_type_ids: bool = False

    @classmethod
    def from_dict(
        cls, data: object, where: str, error: type[Exception] = CheckpointError, prefix: str = "", advice: str = ""
    ) -> "TokenizerSettings":
        """Settings from a parsed tokenizer_settings.json (or a manifest's tokenizer section), every field checked.

        Absent fields take their defaults; an unknown field or one of the wrong type is refused.

        Args:
            data: the parsed JSON.
            where: the file, for messages.
            error: the exception to raise (CheckpointError for a checkpoint, ArtifactError for a bundle).
            prefix: put before each field's name in messages ("tokenizer.").
            advice: appended to each message ("; export the bundle again").
        """
        if not isinstance(data, dict):
            kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
            raise error(f"{where}: {prefix or 'the settings'} must be a JSON object, not {kind}{advice}")
        known = {f.name: str(f.type) for f in fields(cls)}  # "bool", "bool | None", "int", "str"
        for key, value in data.items():
            if key not in known:
                raise error(f"{where}: {prefix}{str(key)[:60]!r} is not a tokenizer setting{advice}")
            nullable = "None" in known[key]
            if value is None and nullable:
                continue
            want = _expected(key, known[key].split("|")[0].strip(), value)
            if want:
                shown = json.dumps(value)[:40]
                or_null = " or null" if nullable else ""
                raise error(f"{where}: {prefix}{key} must be {want}{or_null}, not {shown}{advice}")
        return cls(**data)


def _expected(key: str, kind: str, value: object) -> str | None:
    """What a setting of ``kind`` must be when ``value`` is not that; None when it is fine."""
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false"
    if kind == "int":
        low = 1 if key.startswith("max_") else 0  # lengths are positive, ids may be 0 ([PAD])
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else "a positive integer" if low else "a non-negative integer"
    if key == "kind":
        return None if value in KINDS else f"one of {', '.join(KINDS)}"
    ok = isinstance(value, str) and (bool(value) or key == "continuing_subword_prefix")
    return None if ok else "a non-empty string"


Text = str | tuple[str, str]  # one text, or a sentence pair (text, text_pair)


class Tokenizer:
    """Turns sentences, or sentence pairs, into the model's int64 inputs of shape (B, L): input_ids and
    attention_mask, and token_type_ids when the model takes them (``settings.token_type_ids``)."""

    def __init__(self, backend, settings: TokenizerSettings):
        self.backend = backend
        self.settings = settings
        backend.no_padding()
        backend.no_truncation()

    @property
    def max_length(self) -> int:
        return self.settings.max_length

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def max_id(self) -> int:
        """The largest id the tokenizer can give (its vocabulary's and its added tokens')."""
        return max(self.backend.get_vocab(with_added_tokens=True).values(), default=-1)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The model's inputs, in order."""
        names = ("input_ids", "attention_mask")
        return names + ("token_type_ids",) if self.settings.token_type_ids else names

    def _prepare(self, texts: Sequence[Text]) -> list[Text]:
        """Texts (or pairs) checked and cut to limits.MAX_TEXT_CHARS, refused when they are not what the
        model classifies (``limits.prepare_batch``): the last line of defence for callers of the Python
        API (the readers have done it already for files and the CLI)."""
        return prepare_batch(texts, self.settings.text_pair)

    def lengths(self, texts: Sequence[Text]) -> list[int]:
        """Token counts with the special tokens ([CLS] ... [SEP], <s> ... </s>), before truncation (of
        texts cut to limits.MAX_TEXT_CHARS).

        Raises:
            DataError: a text that is not a string, or not valid Unicode.
        """
        return [len(enc.ids) for enc in self.backend.encode_batch(self._prepare(texts))]

    def rows(self, texts: Sequence[Text], max_length: int | None = None) -> tuple[list[list[int]], list[list[int]]]:
        """Ids with the special tokens, and their token types, truncated to max_length, unpadded.

        One text keeps its first max_length - 1 ids and its final one ([SEP], </s>). A pair is cut
        longest-first, as `tokenizers` does (the longer text loses a token until both fit), before the
        post-processor adds the special tokens and the token types.
        """
        n = max_length or self.settings.max_length
        texts = self._prepare(texts)
        if not self.settings.text_pair:
            ids = []
            for enc in self.backend.encode_batch(texts):
                row = enc.ids
                ids.append(row[: n - 1] + [self.settings.sep_id] if len(row) > n else row)
            return ids, [[0] * len(r) for r in ids]
        self.backend.enable_truncation(n, strategy="longest_first")
        try:
            encs = self.backend.encode_batch(texts)
        finally:
            self.backend.no_truncation()
        return [e.ids for e in encs], [e.type_ids for e in encs]

    def token_ids(self, texts: Sequence[Text], max_length: int | None = None) -> list[list[int]]:
        """The ids of ``rows``: with the special tokens, truncated to max_length, unpadded.

        Raises:
            DataError: a text that is not a string, or not valid Unicode.
        """
        return self.rows(texts, max_length)[0]

    def __call__(
        self, texts: Sequence[Text], max_length: int | None = None, pad_to: str = "max_length"
    ) -> tuple[np.ndarray, ...]:
        """Encode a batch: (input_ids, attention_mask), and token_type_ids when the model takes them.

        Args:
            texts: sentences, or (text, text_pair) tuples for a model of pairs.
            max_length: truncation length; the model's sequence length by default.
            pad_to: "max_length" pads to the fixed length (what exported models take);
                "longest" pads to the longest sentence of the batch (fast training on CPU).
        """
        n = max_length or self.settings.max_length
        ids, types = self.rows(texts, n)
        width = n if pad_to == "max_length" else max(len(r) for r in ids)
        batch = pad_batch(ids, self.settings.pad_id, width, types if self.settings.token_type_ids else None)
        return tuple(t.numpy() for t in batch)

    def save(self, directory: Path) -> None:
        self.backend.save(str(directory / "tokenizer.json"))
        vocab = sorted(self.backend.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        (directory / "vocab.txt").write_text("".join(tok + "\n" for tok, _ in vocab), encoding="utf-8")
        (directory / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, max_length: int | None = None) -> "Tokenizer":
        """From an ondevice checkpoint or a Hugging Face directory (tokenizer.json or vocab.txt)."""
        directory = Path(directory)
        settings_path = directory / SETTINGS_FILE
        if settings_path.is_file():
            settings = TokenizerSettings.from_dict(read_json(settings_path, CheckpointError), str(settings_path))
        else:
            settings = _settings_from_hf(directory)
        if max_length:
            settings.max_length = max_length
        tj, vocab = directory / "tokenizer.json", directory / "vocab.txt"
        if not tj.is_file() and not vocab.is_file():
            raise CheckpointError(f"{directory} has no tokenizer (tokenizer.json or vocab.txt)")
        return cls.from_files(settings, tj if tj.is_file() else None, vocab, str(directory))

    @classmethod
    def from_files(
        cls,
        settings: TokenizerSettings,
        tokenizer_json: Path | None,
        vocab: Path,
        where: str,
        error: type[Exception] = CheckpointError,
    ) -> "Tokenizer":
        """A tokenizer from exactly these files: tokenizer.json when given, else the WordPiece vocabulary.

        Args:
            settings: lower-casing and special tokens (their ids are looked up in the files).
            tokenizer_json: a `tokenizers` tokenizer.json, or None.
            vocab: vocab.txt, one token a line (used when there is no tokenizer.json).
            where: the directory, for messages.
            error: the exception to raise on a file that cannot be used.
        """
        from tokenizers import Tokenizer as Backend

        if tokenizer_json is not None:
            try:
                backend = Backend.from_file(str(tokenizer_json))
            except Exception as e:  # tokenizers raises a bare Exception on a bad file
                raise error(f"{tokenizer_json} cannot be read: {_first_line(e)}") from None
            found = type(backend.model).__name__  # "WordPiece", "BPE", "Unigram", "WordLevel"
            if found not in KINDS:
                raise error(f"{tokenizer_json}: a {found} tokenizer; ondevice runs {', '.join(KINDS)} tokenizers")
            if found != settings.kind:
                raise error(
                    f"{where}: the tokenizer settings say {settings.kind} but {tokenizer_json.name} holds a {found} "
                    "tokenizer; the files do not belong together"
                )
        elif settings.kind != "WordPiece":
            raise error(f"{where}: a {settings.kind} tokenizer is read from tokenizer.json, which is missing")
        else:
            from tokenizers.implementations import BertWordPieceTokenizer

            try:
                backend = BertWordPieceTokenizer(
                    str(vocab),
                    lowercase=settings.lowercase,
                    strip_accents=settings.strip_accents,
                    handle_chinese_chars=settings.tokenize_chinese_chars,
                )._tokenizer
            except Exception as e:  # a vocabulary that is not UTF-8 text: tokenizers raises a bare Exception
                raise error(f"{vocab} cannot be read as a vocabulary: {_first_line(e)}") from None
        for name in ("cls", "sep", "pad", "unk"):
            tid = backend.token_to_id(getattr(settings, f"{name}_token"))
            if tid is None:
                raise error(f"{where}: tokenizer has no {getattr(settings, f'{name}_token')} token")
            setattr(settings, f"{name}_id", tid)
        return cls(backend, settings)


def _first_line(e: Exception) -> str:
    """An exception's message cut to one line (tokenizers' can span several)."""
    lines = str(e).strip().splitlines()
    return lines[0][:200] if lines else type(e).__name__


def _settings_from_hf(directory: Path) -> TokenizerSettings:
    """Settings from a Hugging Face directory: the kind from tokenizer.json's model, the special tokens
    from tokenizer_config.json (or special_tokens_map.json), BERT's normalizer from either."""
    cfg = {}
    tc = directory / "tokenizer_config.json"
    if tc.is_file():
        cfg = _json_object(tc)
    stm = directory / "special_tokens_map.json"  # older transformers wrote the special tokens here too
    if stm.is_file():
        for key, value in _json_object(stm).items():
            cfg.setdefault(key, value)
    kind = "WordPiece"
    tj = directory / "tokenizer.json"
    if tj.is_file():
        data = _json_object(tj)
        model = data.get("model") if isinstance(data.get("model"), dict) else {}
        kind = model.get("type", "WordPiece")  # a tokenizer.json written without it holds WordPiece
        if kind not in KINDS:
            raise CheckpointError(f"{tj}: a {str(kind)[:40]} tokenizer; ondevice runs {', '.join(KINDS)} tokenizers")
        norm = data.get("normalizer")
        if isinstance(norm, dict) and norm.get("type") == "BertNormalizer":
            cfg.setdefault("do_lower_case", norm.get("lowercase", True))
            cfg.setdefault("strip_accents", norm.get("strip_accents"))
            cfg.setdefault("tokenize_chinese_chars", norm.get("handle_chinese_chars", True))
    wordpiece = kind == "WordPiece"
    s = TokenizerSettings(
        kind=kind,
        # BPE and Unigram normalize as tokenizer.json says; these describe BERT's normalizer only
        lowercase=bool(cfg.get("do_lower_case", wordpiece)),
        strip_accents=cfg.get("strip_accents"),
        tokenize_chinese_chars=bool(cfg.get("tokenize_chinese_chars", wordpiece)),
    )
    if not wordpiece:  # RoBERTa's and XLM-R's names, unless the checkpoint names others
        s.cls_token, s.sep_token, s.pad_token, s.unk_token = "<s>", "</s>", "<pad>", "<unk>"
    for name in ("cls", "sep", "pad", "unk"):
        tok = cfg.get(f"{name}_token")
        if isinstance(tok, dict):  # an AddedToken as older transformers wrote it
            tok = tok.get("content")
        if isinstance(tok, str) and tok:
            setattr(s, f"{name}_token", tok)
    return s


def _json_object(path: Path) -> dict:
    data = read_json(path, CheckpointError)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


def copy_tokenizer_files(src: Path, dst: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", SETTINGS_FILE):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length, so that dynamic padding wastes little compute."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class Rows:
    """A dataset's encodings, unpadded (``Tokenizer.rows``), batched on demand as the model's inputs."""

    def __init__(self, tokenizer: Tokenizer, texts: Sequence[Text], max_length: int | None = None):
        self.ids, types = tokenizer.rows(texts, max_length)
        self.types = types if tokenizer.settings.token_type_ids else None
        self.pad_id = tokenizer.settings.pad_id

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        return [len(r) for r in self.ids]

    def batch(self, idx: Sequence[int], width: int = 0) -> tuple[torch.Tensor, ...]:
        """The model's inputs for rows ``idx``: (input_ids, attention_mask[, token_type_ids]), right-padded."""
        types = None if self.types is None else [self.types[i] for i in idx]
        return pad_batch([self.ids[i] for i in idx], self.pad_id, width, types)


def pad_batch(
    rows: list[list[int]], pad_id: int, width: int = 0, types: list[list[int]] | None = None
) -> tuple[torch.Tensor, ...]:
    """(input_ids, attention_mask), and token_type_ids when ``types`` are given, of shape
    (B, max(longest row, width)), right-padded (padding is type 0)."""
    width = max(width, *(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, : len(r)] = torch.tensor(r)
        mask[j, : len(r)] = 1
    if types is None:
        return ids, mask
    tt = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(types):
        tt[j, : len(r)] = torch.tensor(r)
    return ids, mask, tt
