"""Input limits, in one place: how much text ondevice reads, and which text it accepts.

Every reader of text goes through here: the data files (``ondevice.data``), the texts of
``ondevice run``, and the tokenizer itself for callers of the Python API. The policy:

- A text longer than ``MAX_TEXT_CHARS`` is cut to that many characters before tokenization, and
  one note on stderr says how many texts were cut and where the first one was.
- A line of a data file longer than ``MAX_LINE_BYTES``, a file with more than ``MAX_ROWS`` lines
  or larger than ``MAX_FILE_BYTES`` is refused, naming the file (and the line).
- Text that is not valid Unicode (a lone surrogate: what Python makes of invalid UTF-8 in a
  command-line argument, or a broken ``\\ud800`` escape in JSON) is refused, naming where it is.
  Invalid UTF-8 in a file is refused by the reader that decodes it, and so is a NUL byte (the mark
  of a binary file), with the same kind of message. Other control characters, and NUL written as
  the JSON escape ``\\u0000``, are text: the tokenizer drops them as BERT's does.
"""

from __future__ import annotations

import re
import sys
from typing import Sequence

from ondevice.errors import DataError, OndeviceError

# The longest sequence any model here takes is 4096 tokens (the CLI's --max-length bound). English
# text runs at about 4-5 characters per WordPiece token, so 4096 tokens need some 20,000 characters;
# 100,000 leaves a factor of five for long words and odd scripts, while the tokenizer's work (and
# its memory, tens of bytes per character for offsets and alignments) stays bounded.
MAX_TEXT_CHARS = 100_000

# A hard limit: a data line over it is refused, and a reader never holds more than this of one
# line. 64 MiB is far past any real sentence (the text is cut to MAX_TEXT_CHARS anyway) and keeps
# the worst line's bytes, its decoded copy and its split fields well under a gigabyte.
MAX_LINE_BYTES = 64 * 1024**2

# Lines of a data file, blank ones included: bounds the time spent on a file of empty lines and
# the number of examples held in memory. SST-2's train set has 67,350 lines.
MAX_ROWS = 5_000_000

# The size of a data file. With MAX_TEXT_CHARS it bounds the text a dataset holds in memory.
MAX_FILE_BYTES = 2 * 1024**3

# The surrogate code points: they exist only in pairs inside UTF-16, so a lone one in a Python
# string is no character at all, and neither the tokenizer nor any file writer can encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, where: str, error: type[OndeviceError] = DataError) -> None:
    """Refuse text that is not valid Unicode (that holds a lone surrogate).

    Args:
        text: the text (a whole line of a file, or one command-line text).
        where: what the message names, e.g. ``data.tsv:12`` or ``text 2``.
        error: the exception to raise (``ConfigError`` for a command-line argument).

    Raises:
        error: one line naming ``where``, the character and how to fix it.
    """
    m = _SURROGATE.search(text)
    if m is None:
        return
    code, pos = ord(m.group()), m.start() + 1
    # Python decodes an invalid UTF-8 byte of a command-line argument as U+DC80..U+DCFF
    # (surrogateescape): name the byte, which is what the user typed or piped in.
    byte = f", the invalid UTF-8 byte {code - 0xDC00:#04x}" if 0xDC80 <= code <= 0xDCFF else ""
    raise error(f"{where}: not valid Unicode (character {pos} is a lone surrogate U+{code:04X}{byte}); give UTF-8 text")


def note(message: str) -> None:
    """A one-line note on stderr, where progress and status go (results go to stdout)."""
    print(f"Note: {message}", file=sys.stderr, flush=True)


class TextCutter:
    """Cuts texts to MAX_TEXT_CHARS and remembers how many it cut and where the first was.

    Use one per source (a file, a command line, a batch); ``note()`` says what was cut, once.
    """

    def __init__(self, limit: int = MAX_TEXT_CHARS):
        self.limit = limit
        self.count = 0
        self.first: str | None = None

    def __call__(self, text: str, where: str) -> str:
        """``text``, cut to the limit if it is longer; ``where`` names it in the note."""
        if len(text) <= self.limit:
            return text
        self.count += 1
        if self.first is None:
            self.first = where
        return text[: self.limit]

    def note(self, source: str = "") -> None:
        """Say on stderr how many texts were cut (nothing when none was)."""
        if not self.count:
            return
        what = "1 text" if self.count == 1 else f"{self.count:,} texts"
        prefix = f"{source}: " if source else ""
        note(
            f"{prefix}{what} longer than {self.limit:,} characters cut to that length before tokenization "
            f"(the first: {self.first})"
        )


def prepare_texts(texts: Sequence[str], name: str = "text", error: type[OndeviceError] = DataError) -> list[str]:
    """Check and cut texts that do not come from a file (command-line texts, a Python caller's batch).

    Each is named ``{name} {i}`` (1-based) in a refusal or in the note about cut texts.

    Raises:
        error: for the first text that is not a string or not valid Unicode.
    """
    cut = TextCutter()
    out = []
    for i, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            raise error(f"{name} {i}: expected a string, got {type(text).__name__}")
        check_text(text, f"{name} {i}", error)
        out.append(cut(text, f"{name} {i}"))
    cut.note()
    return out


def prepare_batch(texts: Sequence, pairs: bool, error: type[OndeviceError] = DataError) -> list:
    """A batch for a model of single texts (strings) or of sentence pairs ((text, text_pair) tuples),
    each text checked and cut as ``prepare_texts`` does; named "text N" or "text_pair N".

    Raises:
        error: a text that is not a string or not valid Unicode; a pair for a model of single texts, or
            a single text for a model of pairs.
    """
    if not pairs:
        if any(isinstance(t, (tuple, list)) for t in texts):
            raise error("this model classifies single texts, not sentence pairs")
        return prepare_texts(texts, "text", error)
    for i, item in enumerate(texts, start=1):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise error(f"text {i}: this model classifies sentence pairs; give (text, text_pair)")
    firsts = prepare_texts([a for a, _ in texts], "text", error)
    seconds = prepare_texts([b for _, b in texts], "text_pair", error)
    return list(zip(firsts, seconds, strict=True))
