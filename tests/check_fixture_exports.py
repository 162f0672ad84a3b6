#!/usr/bin/env python3
"""Loads the export written with each LibTorch (tests/fixtures/libtorch-*/model.pt) with this Python's torch and
reproduces the predictions recorded when it was written. CTest runs it with the interpreter matching the build:
Debian's torch 1.13 for build/, the venv's 2.x for build-torch2/.

Usage: check_fixture_exports.py SOURCE_DIR
"""
import json
import sys
from pathlib import Path

import torch

fixtures = sorted((Path(sys.argv[1]) / "tests" / "fixtures").glob("libtorch-*"))
assert len(fixtures) >= 2, fixtures
torch.set_num_threads(1)
for fixture in fixtures:
    extra = {"seqenc.json": ""}
    module = torch.jit.load(str(fixture / "model.pt"), _extra_files=extra)
    ids = {t: i for i, t in enumerate(module.vocab)}
    lines = (fixture / "input.txt").read_text(encoding="utf-8").splitlines()
    expected = [json.loads(l) for l in (fixture / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected):
        tokens = line.split()[: module.max_len]
        x = torch.tensor([[ids.get(t, 1) for t in tokens]])
        probs = torch.softmax(module(x, torch.tensor([len(tokens)])).double(), -1)[0]
        best = probs.argmax(-1).tolist()
        assert [module.labels[b] for b in best] == want["labels"], (fixture.name, line, want)
        for j, p in enumerate(want["probabilities"]):
            assert abs(float(probs[j, best[j]]) - p) < 1e-5, (fixture.name, line, j)
    info = json.loads(extra["seqenc.json"])
    print(f"{fixture.name}: {len(lines)} predictions reproduced with torch {torch.__version__}"
          f" (written with LibTorch {info.get('libtorch_version', '?')})")
