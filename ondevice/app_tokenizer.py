"""Whether the Android app's core can reproduce a tokenizer's ids: what ``--target android`` checks.

The app's Java core (``android_demo/core``: TokenizerJson, TokenizerJsonModels, TextNormalizer) reads a
bundle's ``tokenizer.json`` and refuses, when the app starts, any part it does not implement, since ids
from a tokenizer that differs from the Python side's would be silently wrong. This module applies the
same rules to the same file at export time, so that such a model is refused before a bundle is made,
with the same reason. ``tests/android/test_app_tokenizer.py`` checks that both sides give the same
verdict on the same files.
"""

from __future__ import annotations

import re
from typing import Any

NORMALIZERS = ("Sequence", "Precompiled", "Replace", "Strip", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents")
POST_PROCESSORS = ("BertProcessing", "RobertaProcessing", "TemplateProcessing")


def app_refusal(tj: dict[str, Any]) -> str | None:
    """Why the app's core cannot run the tokenizer of this parsed tokenizer.json; None when it can."""
    model = tj.get("model") if isinstance(tj.get("model"), dict) else {}
    kind = model.get("type", "WordPiece")
    pre = tj.get("pre_tokenizer")
    why = _post_processor(tj.get("post_processor")) or _added_tokens(tj.get("added_tokens"))
    if why:
        return why
    if kind == "WordPiece":
        if _type(tj.get("normalizer")) != "BertNormalizer":
            return f"its normalizer is {_type(tj.get('normalizer'))}; with WordPiece the app implements BertNormalizer"
        if _type(pre) != "BertPreTokenizer":
            return f"its pre_tokenizer is {_type(pre)}; with WordPiece the app implements BertPreTokenizer"
        if any(isinstance(t, dict) and t.get("normalized") for t in tj.get("added_tokens") or []):
            return "an added token is matched after normalization, which the app's WordPiece does not implement"
        return None
    if kind not in ("BPE", "Unigram"):
        return f"its model is {kind}; the app implements WordPiece, BPE (byte-level) and Unigram"
    why = _normalizer(tj.get("normalizer"))
    if why:
        return why
    steps = [_type(s) for s in pre.get("pretokenizers", [])] if _type(pre) == "Sequence" else [_type(pre)]
    if kind == "BPE":
        if isinstance(model.get("dropout"), (int, float)) and model["dropout"] > 0:
            return "its BPE model has dropout, which makes ids random"
        if steps != ["ByteLevel"]:
            return f"its pre_tokenizer is {' + '.join(steps)}; with a BPE model the app implements ByteLevel only"
        return None
    if steps not in (["Metaspace"], ["WhitespaceSplit", "Metaspace"]):
        return (
            f"its pre_tokenizer is {' + '.join(steps)}; with a Unigram model the app implements Metaspace, "
            "alone or after WhitespaceSplit"
        )
    return None


def _type(part: Any) -> str:
    if part is None:
        return "none"
    return str(part.get("type", "untyped")) if isinstance(part, dict) else type(part).__name__


def _normalizer(spec: Any) -> str | None:
    if spec is None:
        return None
    kind = _type(spec)
    if kind not in NORMALIZERS:
        return f"its normalizer {kind} is not one the app implements ({', '.join(NORMALIZERS)})"
    if kind == "Sequence":
        return next(filter(None, map(_normalizer, spec.get("normalizers", []))), None)
    if kind == "Replace":
        pattern = spec.get("pattern") if isinstance(spec.get("pattern"), dict) else {}
        if "String" in pattern:
            return None if pattern["String"] else "its Replace normalizer replaces the empty string"
        if not _one_character_run(str(pattern.get("Regex", ""))):
            return (
                f"its Replace normalizer's regex {pattern.get('Regex')} is not one the app implements "
                '(a run of one character, such as " {2,}")'
            )
    return None


def _one_character_run(regex: str) -> bool:
    """A regex the app's Replace implements: one literal character and ``+`` or ``{n,}``."""
    return (
        bool(regex) and regex[0] not in "\\.[](){}*+?|^$" and re.fullmatch(r"\+|\{[0-9]{1,4},\}", regex[1:]) is not None
    )


def _post_processor(spec: Any) -> str | None:
    kind = _type(spec)
    if spec is None:
        return "it has no post-processor adding the special tokens around the text"
    if kind not in POST_PROCESSORS:
        return f"its post-processor is {kind}; the app implements {', '.join(POST_PROCESSORS)}"
    single = spec.get("single") if kind == "TemplateProcessing" else None
    if single is not None and not (
        len(single) == 3
        and all(isinstance(p, dict) for p in single)
        and "SpecialToken" in single[0]
        and "Sequence" in single[1]
        and "SpecialToken" in single[2]
    ):
        return "its post-processor's template is not a special token, the text, a special token"
    return None


def _added_tokens(tokens: Any) -> str | None:
    for t in tokens or []:
        if isinstance(t, dict) and t.get("single_word"):
            return f"added token {t.get('content')} is matched as a single word, which the app does not implement"
    return None
