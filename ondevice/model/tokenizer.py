"""WordPiece tokenization through the `tokenizers` fast tokenizer, with the settings an app needs."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ondevice.errors import CheckpointError

SETTINGS_FILE = "tokenizer_settings.json"


@dataclass
class TokenizerSettings:
    """What a runtime must know to reproduce the ids: written next to every model."""

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


class Tokenizer:
    """Turns sentences into (input_ids, attention_mask) int64 arrays of shape (B, L)."""

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

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts with [CLS] and [SEP], before truncation."""
        return [len(enc.ids) for enc in self.backend.encode_batch(list(texts))]

    def token_ids(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Ids with [CLS] and [SEP], truncated to max_length, unpadded."""
        n = max_length or self.settings.max_length
        out = []
        for enc in self.backend.encode_batch(list(texts)):
            ids = enc.ids
            if len(ids) > n:
                ids = ids[: n - 1] + [self.settings.sep_id]
            out.append(ids)
        return out

    def __call__(
        self, texts: Sequence[str], max_length: int | None = None, pad_to: str = "max_length"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode a batch.

        Args:
            texts: sentences.
            max_length: truncation length; the model's sequence length by default.
            pad_to: "max_length" pads to the fixed length (what exported models take);
                "longest" pads to the longest sentence of the batch (fast training on CPU).
        """
        n = max_length or self.settings.max_length
        rows = self.token_ids(texts, n)
        width = n if pad_to == "max_length" else max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.settings.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    def save(self, directory: Path) -> None:
        self.backend.save(str(directory / "tokenizer.json"))
        vocab = sorted(self.backend.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        (directory / "vocab.txt").write_text("".join(tok + "\n" for tok, _ in vocab), encoding="utf-8")
        (directory / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, max_length: int | None = None) -> "Tokenizer":
        """From an ondevice checkpoint or a Hugging Face directory (tokenizer.json or vocab.txt)."""
        from tokenizers import Tokenizer as Backend

        directory = Path(directory)
        settings_path = directory / SETTINGS_FILE
        if settings_path.is_file():
            settings = TokenizerSettings(**json.loads(settings_path.read_text()))
        else:
            settings = _settings_from_hf(directory)
        if max_length:
            settings.max_length = max_length
        tj = directory / "tokenizer.json"
        if tj.is_file():
            try:
                backend = Backend.from_file(str(tj))
            except Exception as e:  # tokenizers raises a bare Exception on a bad file
                raise CheckpointError(f"{tj} cannot be read: {e}") from None
        elif (directory / "vocab.txt").is_file():
            from tokenizers.implementations import BertWordPieceTokenizer

            backend = BertWordPieceTokenizer(
                str(directory / "vocab.txt"),
                lowercase=settings.lowercase,
                strip_accents=settings.strip_accents,
                handle_chinese_chars=settings.tokenize_chinese_chars,
            )._tokenizer
        else:
            raise CheckpointError(f"{directory} has no tokenizer (tokenizer.json or vocab.txt)")
        for name in ("cls", "sep", "pad", "unk"):
            tid = backend.token_to_id(getattr(settings, f"{name}_token"))
            if tid is None:
                raise CheckpointError(f"{directory}: tokenizer has no {getattr(settings, f'{name}_token')} token")
            setattr(settings, f"{name}_id", tid)
        return cls(backend, settings)


def _settings_from_hf(directory: Path) -> TokenizerSettings:
    cfg = {}
    tc = directory / "tokenizer_config.json"
    if tc.is_file():
        cfg = json.loads(tc.read_text())
    tj = directory / "tokenizer.json"
    if tj.is_file():
        norm = json.loads(tj.read_text()).get("normalizer") or {}
        if norm.get("type") == "BertNormalizer":
            cfg.setdefault("do_lower_case", norm.get("lowercase", True))
            cfg.setdefault("strip_accents", norm.get("strip_accents"))
            cfg.setdefault("tokenize_chinese_chars", norm.get("handle_chinese_chars", True))
    s = TokenizerSettings(
        lowercase=bool(cfg.get("do_lower_case", True)),
        strip_accents=cfg.get("strip_accents"),
        tokenize_chinese_chars=bool(cfg.get("tokenize_chinese_chars", True)),
    )
    for name in ("cls", "sep", "pad", "unk"):
        tok = cfg.get(f"{name}_token")
        if isinstance(tok, str):
            setattr(s, f"{name}_token", tok)
    return s


def copy_tokenizer_files(src: Path, dst: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", SETTINGS_FILE):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
