"""Train, save and load the report tokenizer (a `tokenizers.Tokenizer` with T5's conventions).

Conventions shared with `training.model` (pad_token_id=0, eos_token_id=1, decoder_start_token_id=0):

- ids 0, 1, 2 are `<pad>`, `</s>`, `<unk>`; these are the only special tokens.
- The post-processor appends `</s>` to every single sequence (and to each side of a pair), like T5.
- Pre-tokenization is T5's Metaspace: every space becomes `▁` and starts a new word, so
  `decode(encode(text).ids)` gives back the normalized text with its spacing and punctuation.

Normalization (applied identically in training and encoding, stored in tokenizer.json):
NFKC (as SentencePiece's nmt_nfkc does for T5), a literal `▁` becomes a space (it would decode
to one anyway), every whitespace run becomes one space, and leading/trailing space is stripped.
Case is kept unless `lowercase=True`: the decoded draft is read by radiologists, sentence-initial
capitals and upper-case headers ("FINDINGS:") cost only a few merges in a 1000-token vocabulary,
and report metrics that want case folding can fold on their side.

The model is byte-pair encoding, not T5's Unigram, because training must be reproducible: with
tokenizers 0.22, `UnigramTrainer` writes different tokenizer.json bytes on every run of the same
corpus (required characters get tie-break scores in hash-set order, and parallel EM sums differ in
the last bits), while `BpeTrainer` breaks ties by pair order and gives identical bytes. For the
small vocabularies used here BPE also degrades simply: whatever is not merged stays as characters.
Printable ASCII is always in the alphabet, so digits and punctuation missing from a small corpus
still encode; any other unseen character (e.g. "é" if the corpus had none) becomes `<unk>`.
"""

from __future__ import annotations

import os
import string
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, UNK_TOKEN)  # order == ids

METASPACE = "\u2581"
TOKENIZER_FILENAME = "tokenizer.json"

# Sorted so the trainer input, and hence the vocabulary, does not depend on set order.
BASE_ALPHABET = tuple(sorted(set(string.printable) - set(string.whitespace)))


class TokenizerError(Exception):
    """The tokenizer cannot be trained, saved or loaded as asked."""


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps: list[normalizers.Normalizer] = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    steps += [
        normalizers.Replace(METASPACE, " "),
        normalizers.Replace(Regex(r"\s+"), " "),
        normalizers.Strip(),
    ]
    return normalizers.Sequence(steps)


def _strings(texts: Iterable[str], seen: list[int]) -> Iterator[str]:
    """Yield the texts, counting the non-blank ones in seen[0]; reject non-strings early."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TokenizerError(f"training text #{index} is {type(text).__name__}, not str")
        if text.strip():
            seen[0] += 1
        yield text


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1000, *, lowercase: bool = False) -> Tokenizer:
    """Train a BPE tokenizer with T5 conventions on `texts` (see the module docstring).

    The result has at most `vocab_size` entries (specials and alphabet included) and fewer when the
    corpus has no more pairs seen at least twice. The same texts in the same order give a tokenizer
    whose tokenizer.json is byte-identical. Raises TokenizerError when `texts` holds no non-blank
    string, holds a non-string, or when `vocab_size` cannot hold the specials plus the corpus alphabet.
    """
    minimum = len(SPECIAL_TOKENS) + len(BASE_ALPHABET)
    if vocab_size < minimum:
        raise TokenizerError(f"vocab_size {vocab_size} is below the minimum {minimum} (specials + ASCII alphabet)")

    tok = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tok.normalizer = _normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,  # a pair seen once is noise (often a typo), not a unit worth an id
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=list(BASE_ALPHABET),
        show_progress=False,
    )
    seen = [0]
    tok.train_from_iterator(_strings(texts, seen), trainer=trainer)
    if seen[0] == 0:
        raise TokenizerError("no non-blank training text")
    if tok.get_vocab_size() > vocab_size:
        raise TokenizerError(
            f"the corpus alphabet needs {tok.get_vocab_size()} entries, more than vocab_size {vocab_size}"
        )
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}",
        pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}",
        special_tokens=[(EOS_TOKEN, EOS_ID)],
    )
    _check_specials(tok, "trained tokenizer")
    return tok


def _check_specials(tok: Tokenizer, where: str) -> None:
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != expected_id:
            raise TokenizerError(f"{where}: {token!r} has id {tok.token_to_id(token)}, expected {expected_id}")


def _file_path(path: Path) -> Path:
    return path / TOKENIZER_FILENAME if path.is_dir() else path


def save_tokenizer(tok: Tokenizer, path: Path) -> Path:
    """Write `tok` as tokenizer.json at `path` (a file, or an existing directory) atomically.

    Returns the file written. The bytes depend only on the tokenizer, so equal tokenizers give equal
    files.
    """
    target = _file_path(Path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    data = tok.to_str(pretty=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_tokenizer(path: Path) -> Tokenizer:
    """Load a tokenizer.json (`path` is the file or its directory) and check the T5 special ids.

    Raises TokenizerError when the file is missing, unreadable, or its specials are not 0/1/2.
    """
    source = _file_path(Path(path))
    if not source.is_file():
        raise TokenizerError(f"{source}: no such tokenizer file")
    try:
        tok = Tokenizer.from_file(str(source))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
        raise TokenizerError(f"{source}: not a valid tokenizer.json ({exc})") from exc
    _check_specials(tok, str(source))
    return tok
