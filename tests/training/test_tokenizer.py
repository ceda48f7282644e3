"""training.tokenizer: T5 special ids, </s> appended, decode(encode(x)) round trips, reproducible training."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models

from training.tokenizer import (
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    TokenizerError,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

SENTENCES = [
    "The cardiac silhouette and mediastinum size are within normal limits.",
    "There is no pulmonary edema.",
    "There are no XXXX of a pleural effusion.",
    "Borderline cardiomegaly.",
    "Midline sternotomy XXXX.",
    "Enlarged pulmonary arteries.",
    "Heart size is normal and the lungs are clear.",
    "No pneumothorax or pleural effusion.",
    "Mild degenerative changes of the thoracic spine.",
    "Calcified granuloma in the right upper lobe.",
    "Left basilar atelectasis, 2.5 cm.",
    "Stable appearance compared to 11/2010.",
    "Small bilateral effusions (left greater than right).",
    "Normal chest x-XXXX.",
    "No acute cardiopulmonary abnormality.",
]
WORDS = sorted({w.strip(".,()") for s in SENTENCES for w in s.split()} | {"FINDINGS:", "IMPRESSION:"})
PUNCTUATION = [".", ",", ":", ";", "(", ")", "-", "/", "%"]


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        "FINDINGS: " + " ".join(rng.sample(SENTENCES, 4)) + " IMPRESSION: " + rng.choice(SENTENCES) for _ in range(n)
    ]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train_tokenizer(corpus(), vocab_size=400)


def roundtrip(tok: Tokenizer, text: str) -> str:
    return tok.decode(tok.encode(text).ids, skip_special_tokens=True)


def test_specials_are_t5_ids(tok: Tokenizer) -> None:
    assert (PAD_ID, EOS_ID, UNK_ID) == (0, 1, 2)
    assert [tok.id_to_token(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"] == list(SPECIAL_TOKENS)
    assert all(tok.token_to_id(t) == i for i, t in enumerate(SPECIAL_TOKENS))
    assert 3 + 94 < tok.get_vocab_size() <= 400  # specials, printable ASCII, then learnt merges


def test_eos_appended_once(tok: Tokenizer) -> None:
    ids = tok.encode("Heart size is normal.").ids
    assert ids[-1] == EOS_ID and ids.count(EOS_ID) == 1
    assert PAD_ID not in ids
    pair = tok.encode("Cough.", "Heart size is normal.").ids
    assert pair.count(EOS_ID) == 2 and pair[-1] == EOS_ID
    assert tok.encode("").ids == [EOS_ID]


def test_learns_report_words(tok: Tokenizer) -> None:
    encoding = tok.encode("FINDINGS: Heart size is normal and the lungs are clear.")
    # A trained vocabulary must beat one token per character by a wide margin on in-domain text.
    assert len(encoding.ids) < len("FINDINGS: Heart size is normal and the lungs are clear.") / 3
    assert "▁FINDINGS:" in encoding.tokens


report_like = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(["", *PUNCTUATION]), st.sampled_from([" ", "  ", "\n", "\t"])),
    min_size=1,
    max_size=30,
).map(lambda parts: "".join(word + punct + space for word, punct, space in parts))


@given(text=report_like)
def test_round_trip_keeps_report_words_and_spacing(tok: Tokenizer, text: str) -> None:
    decoded = roundtrip(tok, text)
    assert decoded.split() == text.split()  # words, case and attached punctuation
    assert decoded == " ".join(text.split())  # whitespace runs collapse to one space, ends stripped
    assert UNK_ID not in tok.encode(text).ids


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@settings(max_examples=200)
@given(text=printable)
def test_any_printable_ascii_round_trips_exactly_after_normalization(tok: Tokenizer, text: str) -> None:
    assume(not any(special in text for special in SPECIAL_TOKENS))
    ids = tok.encode(text).ids
    assert UNK_ID not in ids  # the ASCII alphabet is always in the vocabulary, seen or not
    assert roundtrip(tok, text) == tok.normalizer.normalize_str(text) == " ".join(text.split())


def test_unknown_characters_map_to_unk(tok: Tokenizer) -> None:
    text = "Heart \u00e9 normal \u2713 \u6f22\u5b57 lungs \U0001f600."
    encoding = tok.encode(text)
    assert encoding.ids.count(UNK_ID) == 5
    assert encoding.ids[-1] == EOS_ID
    assert roundtrip(tok, text).split() == ["Heart", "normal", "lungs", "."]


@given(text=st.text(max_size=60))
def test_any_unicode_encodes_without_crashing(tok: Tokenizer, text: str) -> None:
    ids = tok.encode(text).ids
    assert ids[-1] == EOS_ID
    assert all(0 <= i < tok.get_vocab_size() for i in ids)
    tok.decode(ids)


def test_normalization_nfkc_and_metaspace_char(tok: Tokenizer) -> None:
    assert tok.normalizer.normalize_str("\uff28eart\u2581size\u00a0 ok ") == "Heart size ok"


def test_lowercase_is_opt_in() -> None:
    lower = train_tokenizer(corpus(50), vocab_size=200, lowercase=True)
    assert roundtrip(lower, "FINDINGS: Heart NORMAL.") == "findings: heart normal."
    cased = train_tokenizer(corpus(50), vocab_size=200)
    assert roundtrip(cased, "FINDINGS: Heart NORMAL.") == "FINDINGS: Heart NORMAL."


def test_training_is_deterministic_across_processes(tmp_path: Path) -> None:
    here = save_tokenizer(train_tokenizer(corpus(), vocab_size=400), tmp_path / "a.json").read_bytes()
    again = save_tokenizer(train_tokenizer(corpus(), vocab_size=400), tmp_path / "b.json").read_bytes()
    assert here == again
    # A fresh interpreter gets fresh hash seeds (Python's and Rust's), which is where
    # order-dependent trainers differ.
    script = (
        "import sys; from pathlib import Path; "
        "from tests.training.test_tokenizer import corpus; "
        "from training.tokenizer import save_tokenizer, train_tokenizer; "
        "save_tokenizer(train_tokenizer(corpus(), vocab_size=400), Path(sys.argv[1]))"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "c.json")], check=True, cwd=root, timeout=60)
    assert (tmp_path / "c.json").read_bytes() == here
    other = save_tokenizer(train_tokenizer(corpus(seed=1), vocab_size=400), tmp_path / "d.json").read_bytes()
    assert other != here


def test_save_and_load_round_trip(tok: Tokenizer, tmp_path: Path) -> None:
    written = save_tokenizer(tok, tmp_path / "out" / "tokenizer.json")
    assert written == tmp_path / "out" / "tokenizer.json"
    loaded = load_tokenizer(tmp_path / "out")  # the directory works too
    text = "FINDINGS: Left basilar atelectasis, 2.5 cm. IMPRESSION: Stable."
    assert loaded.encode(text).ids == tok.encode(text).ids
    assert loaded.decode(loaded.encode(text).ids, skip_special_tokens=True) == text
    assert save_tokenizer(loaded, tmp_path / "out").read_bytes() == written.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tokenizer.json"]  # no temp files left


def test_load_rejects_missing_malformed_and_wrong_specials(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no such tokenizer file"):
        load_tokenizer(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not a valid tokenizer.json"):
        load_tokenizer(tmp_path / "bad.json")
    foreign = Tokenizer(models.WordLevel({"<unk>": 0, "</s>": 1, "<pad>": 2}, unk_token="<unk>"))
    foreign.save(str(tmp_path / "foreign.json"))
    with pytest.raises(TokenizerError, match="'<pad>' has id 2, expected 0"):
        load_tokenizer(tmp_path / "foreign.json")


def test_train_rejects_bad_input() -> None:
    with pytest.raises(TokenizerError, match="below the minimum 97"):
        train_tokenizer(corpus(5), vocab_size=96)
    with pytest.raises(TokenizerError, match="no non-blank training text"):
        train_tokenizer(["", "   \n"], vocab_size=200)
    with pytest.raises(TokenizerError, match="#1 is bytes"):
        train_tokenizer(["Heart normal.", b"Lungs clear."], vocab_size=200)  # type: ignore[list-item]
    # 97 + 30 distinct non-ASCII letters (and the metaspace) cannot fit in 110 entries.
    with pytest.raises(TokenizerError, match="corpus alphabet needs"):
        train_tokenizer(["".join(chr(0x3B1 + i) for i in range(30))], vocab_size=110)


def test_vocab_file_lists_specials_first(tok: Tokenizer, tmp_path: Path) -> None:
    data = json.loads(save_tokenizer(tok, tmp_path / "t.json").read_text())
    assert [entry["content"] for entry in data["added_tokens"]] == list(SPECIAL_TOKENS)
    assert [entry["id"] for entry in data["added_tokens"]] == [0, 1, 2]
    assert all(entry["special"] for entry in data["added_tokens"])
    assert data["post_processor"]["type"] == "TemplateProcessing"
    assert data["pre_tokenizer"]["type"] == "Metaspace" and data["decoder"]["type"] == "Metaspace"
