"""The Python twin of the app's Classifier: open a bundle once, classify texts, close.

    from ondevice import Classifier

    with Classifier("ondevice-android") as clf:
        for p in clf.classify(["a gorgeous , witty , seductive movie ."]):
            print(p.label, p.scores, p.ms)

A bundle of a sentence-pair model (its tokenizer settings say ``text_pair``) classifies
``(text, text_pair)`` tuples instead of texts. A multi-label bundle (its manifest's ``problem_type``)
gives each label's sigmoid probability and the labels above their thresholds.

It reads a bundle the way the app does: the manifest and every file's checksum first
(``ondevice.bundle.load_manifest``), the tokenizer from the bundle's own files, the artifact in its
own runtime (the converters' host runner). Each text runs at the smallest of the artifact's lengths
that holds it, so a short sentence does not pay for 128 tokens. ``ondevice run`` and the benchmarks
are built on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ondevice import converters
from ondevice.bundle import MANIFEST, load_manifest, load_tokenizer, select_artifact
from ondevice.converters.inputs import pick_length
from ondevice.errors import ArtifactError, ConfigError, OndeviceError
from ondevice.limits import prepare_batch
from ondevice.manifest import MULTI_LABEL
from ondevice.scores import decisions, sigmoid, softmax

if TYPE_CHECKING:
    from ondevice.model.tokenizer import Tokenizer

Text = str | tuple[str, str]  # one text, or a sentence pair (text, text_pair)


@dataclass(frozen=True)
class Prediction:
    """What the model says about one text.

    Attributes:
        text: the text as classified (one longer than ``ondevice.limits.MAX_TEXT_CHARS`` is cut first).
        text_pair: the second text of a sentence pair (None for a model of single texts).
        label: the most probable label.
        scores: every label's probability (the softmax of the logits; a multi-label model's sigmoid of
            each), in the manifest's label order.
        labels: a multi-label model's labels that apply (probability above the label's threshold), in
            label order, perhaps none; None for a single-label model.
        tokens: how many tokens the text (or pair) has, [CLS] and [SEP] included, before truncation.
        seq_len: the artifact length it ran at.
        truncated: whether the text had more tokens than ``seq_len`` and was cut to it.
        ms: milliseconds of the runtime call alone (tokenization not included).
    """

    text: str
    label: str
    scores: dict[str, float]
    tokens: int
    seq_len: int
    truncated: bool
    ms: float
    text_pair: str | None = None
    labels: tuple[str, ...] | None = None


class Classifier:
    """A bundle's artifact, loaded in its runtime with the bundle's tokenizer and labels.

    Args:
        bundle: a bundle directory, or an artifact file inside one (then that artifact is run).
        format: which of a bundle's artifacts (executorch, tflite, onnx); any when None.
        quantize: which of a bundle's artifacts (fp32, int8-dynamic, int8-static); any when None.
            ``format`` and ``quantize`` choose within a directory; a named file is its own choice.
        threads: CPU threads the runtime may use.

    Raises:
        ArtifactError: no such file or bundle, a manifest or file that fails its checks, no artifact
            of that format and quantization, an artifact file the manifest does not list, or a
            runtime that cannot load the artifact.
    """

    def __init__(
        self, bundle: str | Path, format: str | None = None, quantize: str | None = None, threads: int = 2
    ) -> None:
        given = Path(bundle)
        if not given.exists():
            raise ArtifactError(f"{given}: no such file or bundle")
        self.bundle = given if given.is_dir() else given.parent
        self.manifest = load_manifest(self.bundle)
        if given.is_dir():
            self.artifact = select_artifact(self.bundle, self.manifest, format, quantize)
        else:
            listed = [a for a in self.manifest["artifacts"] if a["file"] == given.name]
            if not listed:
                raise ArtifactError(f"{given}: not listed in {self.bundle / MANIFEST}")
            self.artifact = listed[0]
        self.labels: list[str] = self.manifest["labels"]
        self.path = self.bundle / self.artifact["file"]
        self.threads = threads
        self._runner = converters.open_runner(self.path, threads=threads)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The bundle's tokenizer, built on first use: a caller that feeds token ids (a benchmark timing
        the runtime alone) does not hold it in memory."""
        return load_tokenizer(self.bundle, self.manifest)

    @property
    def format(self) -> str:
        return self.artifact["format"]

    @property
    def quantization(self) -> str:
        return self.artifact["quantization"]

    @property
    def seq_lens(self) -> list[int]:
        """The lengths the artifact takes, shortest first."""
        return self._open().seq_lens

    @property
    def seq_len(self) -> int:
        """The artifact's longest length."""
        return self._open().seq_len

    @property
    def input_dtype(self) -> type:
        """The integer type the runtime takes its inputs in (int32 or int64)."""
        return self._open().input_dtype

    @property
    def text_pair(self) -> bool:
        """Whether the model classifies sentence pairs: ``classify`` then takes (text, text_pair) tuples."""
        return bool(self.manifest["tokenizer"].get("text_pair", False))

    @property
    def multi_label(self) -> bool:
        """Whether any number of labels apply to a text, each by its own threshold (``thresholds``)."""
        return self.manifest.get("problem_type") == MULTI_LABEL  # absent: written before multi-label

    @property
    def thresholds(self) -> list[float] | None:
        """A multi-label model's decision thresholds, one per label; None for a single-label model."""
        return self.manifest.get("thresholds")

    def encode(self, texts: Sequence[Text], length: int | None = None) -> tuple[np.ndarray, ...]:
        """The model's inputs for ``texts``, padded or cut to ``length``, in the runtime's dtype.

        Args:
            texts: the texts (or pairs) of one batch.
            length: one of ``seq_lens``; the longest when None.

        Returns:
            ``(input_ids, attention_mask)``, and ``token_type_ids`` for a pair model that takes them,
            each of shape (len(texts), length).
        """
        return tuple(a.astype(self.input_dtype) for a in self.tokenizer(texts, max_length=length or self.seq_len))

    def logits(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> np.ndarray:
        """The artifact's raw output for a batch encoded at one of its lengths (see ``encode``).

        Returns:
            float32 logits of shape (batch, labels).

        Raises:
            ArtifactError: the artifact gives a different number of logits than the bundle has labels.
        """
        out = self._open().run(input_ids, attention_mask, token_type_ids)
        if out.shape[-1] != len(self.labels):
            raise ArtifactError(
                f"{self.artifact['file']} gives {out.shape[-1]} logits for the manifest's {len(self.labels)} labels"
            )
        return out

    def classify(self, texts: Text | Sequence[Text]) -> list[Prediction]:
        """One prediction per text (or pair), each run alone at the shortest of the artifact's lengths that
        holds it.

        Raises:
            ConfigError: a text that is not a string or not valid Unicode (named "text N" or "text_pair N");
                a pair given to a model of single texts, or a single text to a model of pairs.
        """
        texts = self._prepare(texts)
        counts = self.tokenizer.lengths(texts)
        out = []
        for text, tokens in zip(texts, counts, strict=True):
            n = pick_length(self.seq_lens, tokens)
            inputs = self.encode([text], n)
            t0 = time.perf_counter()
            logits = self.logits(*inputs)[0]
            ms = (time.perf_counter() - t0) * 1000
            p = sigmoid(logits) if self.multi_label else softmax(logits)
            applies = None
            if self.multi_label:
                chosen = decisions(logits, self.thresholds)
                applies = tuple(name for name, yes in zip(self.labels, chosen, strict=True) if yes)
            out.append(
                Prediction(
                    text=text[0] if self.text_pair else text,
                    text_pair=text[1] if self.text_pair else None,
                    label=self.labels[int(p.argmax())],
                    scores={name: float(v) for name, v in zip(self.labels, p, strict=True)},
                    tokens=tokens,
                    seq_len=n,
                    truncated=tokens > n,
                    ms=ms,
                    labels=applies,
                )
            )
        return out

    def _prepare(self, texts: Text | Sequence[Text]) -> list[Text]:
        """The batch as a list (one text or one pair alone becomes a batch of one), checked and cut."""
        one = isinstance(texts, tuple) if self.text_pair else isinstance(texts, str)
        return prepare_batch([texts] if one else list(texts), self.text_pair, ConfigError)

    def close(self) -> None:
        """Free the runtime's model; the classifier cannot be used afterwards. Closing twice is harmless."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Classifier({str(self.path)!r}, {self.format} {self.quantization}, threads={self.threads})"

    def _open(self):
        if self._runner is None:
            raise OndeviceError(f"{self.path}: this Classifier was closed; open a new one")
        return self._runner
