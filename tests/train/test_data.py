"""Rows -> labels: exactly the span tokens (and the EOS) are supervised; bad data names file:line."""

from __future__ import annotations

import json

import pytest

from multiagentllm.io import DataError
from multiagentllm.train.data import IGNORE, label_tokens, load_split, pack, parse_row, tokenize


@pytest.fixture(scope="module")
def tokenizer():
    from multiagentllm.models.embedded import embedded_model_dir
    from multiagentllm.models.load import load_tokenizer

    return load_tokenizer(embedded_model_dir())


def supervised_text(tokenizer, example) -> str:
    ids = [t for t in example.labels if t != IGNORE]
    assert ids[-1] == tokenizer.eos_token_id
    return tokenizer.decode(ids[:-1])


def test_labels_cover_exactly_the_spans(tokenizer):
    text = "<s> weather? </s>\nRationale: look it up\nObservation: 11C\nAnswer: it is 11C"
    a = text.index("Rationale")
    b = text.index("Observation")
    c = text.index("Answer")
    example, cut = tokenize(tokenizer, text, [(a, b), (c, len(text))], max_length=512)
    assert not cut
    assert supervised_text(tokenizer, example) == text[a:b] + text[c:]
    assert "11C\n" not in supervised_text(tokenizer, example).split("Answer")[0]  # observation unsupervised
    assert example.input_ids[-1] == tokenizer.eos_token_id == example.labels[-1]


def test_literal_markers_are_text_not_special_tokens(tokenizer):
    example, _ = tokenize(tokenizer, "<s> hi </s>\nx", [(12, 13)], max_length=64)
    assert tokenizer.decode(example.input_ids[:-1]) == "<s> hi </s>\nx"


def test_label_tokens_skips_zero_width_tokens():
    ids, offsets = [1, 10, 11, 12], [(0, 0), (0, 3), (3, 5), (5, 9)]
    assert label_tokens(ids, offsets, [(0, 5)]) == [IGNORE, 10, 11, IGNORE]


def test_prompt_completion_rows_supervise_the_completion(tokenizer):
    text, spans = parse_row({"prompt": "Q: 2+2?\n", "completion": "Answer: 4"})
    example, _ = tokenize(tokenizer, text, spans, max_length=64)
    assert supervised_text(tokenizer, example) == "Answer: 4"


@pytest.mark.parametrize("row, message", [
    ({"text": "abc", "spans": [[2, 1]]}, "out of order"),
    ({"text": "abc", "spans": [[0, 9]]}, "outside the text"),
    ({"text": "abc", "spans": [[0, 2], [1, 3]]}, "out of order"),
    ({"text": "abc", "spans": []}, "non-empty list"),
    ({"text": "abc", "spans": [["0", 2]]}, "pair of integers"),
    ({"text": "", "spans": [[0, 1]]}, "non-empty string"),
    ({"prompt": "p", "completion": ""}, "non-empty string"),
    ({"messages": []}, "expected keys"),
    ([1, 2], "JSON object"),
])
def test_bad_rows_are_rejected(row, message):
    with pytest.raises(ValueError, match=message):
        parse_row(row)


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows))


def test_bad_row_names_file_and_line(tokenizer, tmp_path):
    write(tmp_path / "planner" / "train.seq.jsonl",
          [{"text": "ab", "spans": [[0, 2]]}, {"text": "ab", "spans": [[0, 5]]}])
    with pytest.raises(DataError, match=r"train\.seq\.jsonl:2: span \[0, 5\]"):
        load_split(tokenizer, tmp_path, "planner", "train", max_length=64)


def test_invalid_json_names_file_and_line(tokenizer, tmp_path):
    write(tmp_path / "caller" / "train.jsonl", ['{"prompt": "a", "completion": "b"}\n', "{oops\n"])
    with pytest.raises(DataError, match=r"train\.jsonl:2: invalid JSON"):
        load_split(tokenizer, tmp_path, "caller", "train", max_length=64)


def test_missing_and_empty_datasets(tokenizer, tmp_path):
    with pytest.raises(DataError, match="no train data for dataset 'global'.*umi data build"):
        load_split(tokenizer, tmp_path, "global", "train", max_length=64)
    write(tmp_path / "global" / "train.seq.jsonl", [])
    with pytest.raises(DataError, match="the train split has no rows"):
        load_split(tokenizer, tmp_path, "global", "train", max_length=64)
    assert load_split(tokenizer, tmp_path, "global", "dev", max_length=64, required=False)[0] == []


def test_truncation_is_counted_and_rows_without_targets_dropped(tokenizer, tmp_path):
    long = "word " * 200
    write(tmp_path / "global" / "train.seq.jsonl", [
        {"text": long + "Answer: yes", "spans": [[len(long), len(long) + 11]]},  # target cut away
        {"text": "Answer: yes" + long, "spans": [[0, 11]]},  # cut, target kept
    ])
    rows, stats = load_split(tokenizer, tmp_path, "global", "train", max_length=32)
    assert (stats.rows, stats.truncated, stats.dropped, len(rows)) == (2, 2, 1, 1)
    assert all(len(r.input_ids) <= 32 for r in rows)


def test_pack_fits_capacity_uses_every_row_once_and_is_deterministic():
    lengths = [5, 9, 3, 7, 10, 1, 4, 6, 2, 8]
    packs = pack(lengths, capacity=12, seed=1)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 12 for p in packs)
    assert len(packs) == -(-sum(lengths) // 12)  # perfectly filled here: no more packs than needed
    assert pack(lengths, 12, seed=1) == packs
    with pytest.raises(ValueError, match="exceeds the pack size"):
        pack([13], 12, seed=0)
