#!/usr/bin/env python3
"""Loads a seqenc export in Python with torch.jit.load and reproduces `seqenc predict`.

Usage: check_export.py SEQENC_BINARY SOURCE_DIR WORK_DIR   (run by ./scripts/test through CTest)
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import sentencepiece
import torch

seqenc, source, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
work.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)


def run(*args):
    return subprocess.run([seqenc, *args], cwd=source, check=True, capture_output=True, text=True).stdout


def reader(info, extra):
    """What seqenc predict does to a line: token ids, and the positions whose labels it prints."""
    index = {t: i for i, t in enumerate(info["vocab"])}
    max_len = info["max_len"]
    if info["tokenizer"] == "whitespace":
        tokenize = lambda text: [index.get(t, 1) for t in text.split()]
    else:
        assert info["tokenizer"] == "sentencepiece", info["tokenizer"]
        sp = sentencepiece.SentencePieceProcessor(model_proto=extra[info["tokenizer_model"]])
        # SentencePiece's unknown id is <unk> (1); its control ids never come out of encode.
        tokenize = lambda text: [1 if sp.is_unknown(i) else index[sp.id_to_piece(i)] for i in sp.encode(text)]

    def read(line):
        text = line if info["head"] == "lm" else line.split("\t")[0]
        if not info["word_tags"]:
            ids = tokenize(text)[:max_len]
            return ids, list(range(len(ids)))
        ids, firsts = [], []
        for word in re.split(r"[ \t\n\v\f\r]+", text.strip(" \t\n\v\f\r")):
            firsts.append(len(ids))
            ids += tokenize(word) or [1]
        return ids[:max_len], [f for f in firsts if f < max_len]

    return read


def check(name, config, overrides, input_lines):
    run_dir = work / name
    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    sets = [a for o in overrides for a in ("--set", o)]
    run("train", "--config", config, "--run-dir", str(run_dir), *sets)
    model_path = work / f"{name}.pt"
    run("export", "--run", str(run_dir), "--out", str(model_path))
    inputs = work / f"{name}.txt"
    inputs.write_text("".join(line + "\n" for line in input_lines), encoding="utf-8")
    predicted = [json.loads(l) for l in run("predict", "--model", str(model_path), "--input", str(inputs), "--json").splitlines()]

    extra = {"seqenc.json": "", "config.yaml": "", "spm.model": ""}
    module = torch.jit.load(str(model_path), _extra_files=extra)
    info = json.loads(extra["seqenc.json"])
    config_text = extra["config.yaml"]
    config_text = config_text.decode() if isinstance(config_text, bytes) else config_text
    assert list(module.vocab) == info["vocab"] and list(module.labels) == info["labels"]
    assert module.tokenizer == info["tokenizer"] and module.head == info["head"]
    assert "encoder" in config_text
    read = reader(info, extra)
    for line, expected in zip(input_lines, predicted):
        ids, reported = read(line)
        x = torch.tensor([ids])
        probs = torch.softmax(module(x, torch.tensor([len(ids)])).double(), -1)[0]
        if module.head == "classify":
            best = int(probs.argmax())
            assert module.labels[best] == expected["label"], (line, module.labels[best], expected)
            for c, p in expected["probabilities"].items():
                assert abs(float(probs[module.labels.index(c)]) - p) < 1e-5, (line, c)
        else:
            best = probs.argmax(-1).tolist()
            assert [module.labels[best[j]] for j in reported] == expected["labels"], (line, expected)
            for j, p in zip(reported, expected["probabilities"]):
                assert abs(float(probs[j, best[j]]) - p) < 1e-5
    # Any batch size and length: two padded examples give the same as one each.
    x = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    both = module(x, torch.tensor([4, 2]))
    alone = module(x[1:, :2], torch.tensor([2]))
    if module.head == "classify":
        assert torch.allclose(both[1], alone[0], atol=1e-5)
    else:
        assert torch.allclose(both[1, :2], alone[0], atol=1e-5)
    print(f"{name}: {len(predicted)} predictions reproduced in Python (torch {torch.__version__}, "
          f"{info['tokenizer']} tokenizer)")


fast = ["train.steps=30", "train.epochs=0", "train.eval_every=15", "train.threads=1"]
check("reviews", "configs/reviews.yaml", fast,
      ["the film was not great", "the plot was truly delightful\tpositive", "an unknown word here"])
check("tags", "configs/tags.yaml", fast, ["the small cat sees a dog", "every bird crosses the river today"])
check("tags_cnn", "configs/tags.yaml", fast + ["model.encoder=cnn"], ["a red garden follows the child"])
# Subwords: the export carries the SentencePiece model; python3-sentencepiece tokenizes as seqenc does.
spm = ["data.tokenizer=sentencepiece"]
check("reviews_spm", "configs/reviews.yaml", fast + spm + ["data.spm_vocab_size=60"],
      ["the film was not great", "an unknown wordery zzz here", "the plot was truly delightful\tpositive"])
check("tags_spm", "configs/tags.yaml", fast + spm + ["data.spm_vocab_size=40"],
      ["the small cat sees a dog", "every bird crosses the river today", "an unseen kangaroo sleeps"])
check("corpus_spm", "configs/corpus_lm.yaml", fast + spm + ["data.spm_vocab_size=60", "model.num_hiddens=16"],
      ["the quiet letter sees the river", "a strange zebra"])
