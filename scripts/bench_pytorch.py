#!/usr/bin/env python3
"""seqenc bench side by side with the same model and shapes in Python PyTorch.

Runs, on the same machine and thread count:
  - `seqenc bench --json` (C++ LibTorch),
  - the book's Python implementation (D2L 11.3-11.7: masked_softmax, MultiHeadAttention,
    PositionalEncoding, AddNorm, PositionWiseFFN, TransformerEncoder), written out here,
  - torch.nn.TransformerEncoder with the same sizes (post-norm, ReLU, dropout),
  - and, with --encoders, PyTorch CNN and GRU encoders matching seqenc's,
then prints tokens/s, ms/step and the ratios. A step is the one `seqenc bench` times: random
tokens, random valid lengths in [n/2, n], a token-classification head over the vocabulary applied
at the labelled (valid) positions only, cross-entropy, backward, Adam.

Usage: scripts/bench_pytorch.py [--seq-len 128] [--batch-size 32] [--threads 2] [--encoders transformer,cnn,rnn]
                                [--precision fp32,bf16]
       scripts/bench_pytorch.py --seq-lens 128:32,512:8,2048:1 [--num-hiddens 128 --ffn-num-hiddens 512]
The sweep runs each Python model at each size in a process of its own, so that peak RSS is per run.
Needs Debian's python3-torch (/usr/bin/python3) and a built build/bin/seqenc.
"""
import argparse
import json
import math
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent


# --- The book's implementation (D2L 11.3-11.7), PyTorch edition --------------------------------
def sequence_mask(X, valid_len, value=0.0):
    maxlen = X.size(1)
    mask = torch.arange(maxlen, dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


def masked_softmax(X, valid_lens):
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
    return nn.functional.softmax(X.reshape(shape), dim=-1)


class DotProductAttention(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_hiddens, num_heads, dropout, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_k = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_v = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def transpose_qkv(self, X):
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1).permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2]).permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys, values = (self.transpose_qkv(W(x)) for W, x in
                                 ((self.W_q, queries), (self.W_k, keys), (self.W_v, values)))
        if valid_lens is not None:
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        return self.W_o(self.transpose_output(self.attention(queries, keys, values, valid_lens)))


class PositionalEncoding(nn.Module):
    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.P = torch.zeros((1, max_len, num_hiddens))
        X = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
            10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
        self.P[:, :, 0::2] = torch.sin(X)
        self.P[:, :, 1::2] = torch.cos(X)

    def forward(self, X):
        return self.dropout(X + self.P[:, :X.shape[1], :].to(X.device))


class PositionWiseFFN(nn.Module):
    def __init__(self, ffn_num_hiddens, ffn_num_outputs):
        super().__init__()
        self.dense1 = nn.LazyLinear(ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.LazyLinear(ffn_num_outputs)

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    def __init__(self, norm_shape, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(norm_shape)

    def forward(self, X, Y):
        return self.ln(self.dropout(Y) + X)


class TransformerEncoderBlock(nn.Module):
    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias=False):
        super().__init__()
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(num_hiddens, dropout)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(num_hiddens, dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class BookTransformerEncoder(nn.Module):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout, use_bias=False):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout, max_len=16384)
        self.blks = nn.Sequential()
        for i in range(num_blks):
            self.blks.add_module("block" + str(i), TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias))

    def forward(self, X, valid_lens):
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X


# --- torch.nn.TransformerEncoder with the same sizes --------------------------------------------
class TorchTransformerEncoder(nn.Module):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout, max_len=16384)
        layer = nn.TransformerEncoderLayer(num_hiddens, num_heads, ffn_num_hiddens, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_blks, enable_nested_tensor=False)

    def forward(self, X, valid_lens):
        padding = torch.arange(X.shape[1], device=X.device)[None, :] >= valid_lens[:, None]
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
        return self.encoder(X, src_key_padding_mask=padding)


# --- CNN and GRU encoders as seqenc builds them ---------------------------------------------------
class CnnEncoder(nn.Module):
    def __init__(self, vocab_size, num_hiddens, num_layers, kernel_size, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.convs = nn.ModuleList(nn.Conv1d(num_hiddens, num_hiddens, kernel_size, padding=kernel_size // 2)
                                   for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(num_hiddens) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, X, valid_lens):
        mask = (torch.arange(X.shape[1], device=X.device)[None, :] < valid_lens[:, None]).unsqueeze(-1).float()
        X = self.dropout(self.embedding(X))
        for conv, norm in zip(self.convs, self.norms):
            H = F.relu(conv((X * mask).transpose(1, 2)).transpose(1, 2))
            X = norm(X + self.dropout(H))
        return X * mask


class GruEncoder(nn.Module):
    def __init__(self, vocab_size, num_hiddens, num_layers, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.rnn = nn.GRU(num_hiddens, num_hiddens, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, X, valid_lens):
        mask = (torch.arange(X.shape[1], device=X.device)[None, :] < valid_lens[:, None]).unsqueeze(-1).float()
        S, _ = self.rnn(self.dropout(self.embedding(X)))
        return self.dropout(S) * mask


class Tagger(nn.Module):
    def __init__(self, encoder, num_hiddens, vocab_size):
        super().__init__()
        self.encoder = encoder
        self.output = nn.Linear(num_hiddens, vocab_size)

    def forward(self, X, valid_lens):
        return self.output(self.encoder(X, valid_lens))


def time_python(model, a, precision="fp32"):
    torch.manual_seed(1)
    tokens = torch.randint(5, a.vocab_size, (a.batch_size, a.seq_len))
    model(tokens, torch.full((a.batch_size,), a.seq_len))  # materialise lazy layers
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step():
        tokens = torch.randint(5, a.vocab_size, (a.batch_size, a.seq_len))
        lens = torch.randint(a.seq_len // 2, a.seq_len + 1, (a.batch_size,))
        labels = torch.randint(0, a.vocab_size, (a.batch_size, a.seq_len))
        labels[torch.arange(a.seq_len)[None, :] >= lens[:, None]] = -100
        # As seqenc does: the output layer only at labelled positions (not at padding).
        keep = labels != -100
        # bf16: CPU autocast, PyTorch's own mixed precision (bf16 products, fp32 weights and optimizer).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model.output(model.encoder(tokens, lens)[keep])
            loss = F.cross_entropy(logits.float(), labels[keep])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        times.append((time.perf_counter() - start) * 1000 / a.steps)
    ms = statistics.median(times)
    return {"ms_per_step": ms, "tokens_per_s": a.batch_size * a.seq_len / (ms / 1000)}


def seqenc_args(encoder, a, extra):
    sets = {"model.encoder": encoder, "model.num_hiddens": a.num_hiddens, "model.num_layers": a.num_layers,
            "model.num_heads": a.num_heads, "model.ffn_num_hiddens": a.ffn_num_hiddens, "model.dropout": a.dropout,
            "model.kernel_size": a.kernel_size, "bench.vocab_size": a.vocab_size, "bench.steps": a.steps,
            "bench.repeats": a.repeats, "bench.warmup": a.warmup, "train.threads": a.threads,
            "train.precision": a.precision.split(",")[0]}
    sets.update(extra)
    args = [str(ROOT / "build/bin/seqenc"), "bench", "--json"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def time_seqenc(encoder, a, precision="fp32"):
    extra = {"bench.batch_size": a.batch_size, "bench.seq_len": a.seq_len, "data.max_len": max(a.seq_len, 128),
             "train.precision": precision}
    if a.attention:
        extra["model.attention"] = a.attention
    out = subprocess.run(seqenc_args(encoder, a, extra), check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[0])


def python_model(name, a):
    if name == "book":
        return BookTransformerEncoder(a.vocab_size, a.num_hiddens, a.ffn_num_hiddens, a.num_heads, a.num_layers,
                                      a.dropout)
    if name == "torch":
        return TorchTransformerEncoder(a.vocab_size, a.num_hiddens, a.ffn_num_hiddens, a.num_heads, a.num_layers,
                                       a.dropout)
    if name == "cnn":
        return CnnEncoder(a.vocab_size, a.num_hiddens, a.num_layers, a.kernel_size, a.dropout)
    return GruEncoder(a.vocab_size, a.num_hiddens, a.num_layers, a.dropout)


def child(a):
    """One Python model at one size in this process, so that its peak RSS is its own."""
    import resource
    torch.set_num_threads(a.threads)
    r = time_python(Tagger(python_model(a.child, a), a.num_hiddens, a.vocab_size), a, a.precision.split(",")[0])
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(r))


def time_python_child(name, a, n, batch):
    import sys
    args = [sys.executable, __file__, "--child", name, "--seq-len", str(n), "--batch-size", str(batch)]
    for key in ("vocab_size", "num_hiddens", "num_layers", "num_heads", "ffn_num_hiddens", "kernel_size", "dropout",
                "threads", "steps", "repeats", "warmup", "precision"):
        args += ["--" + key.replace("_", "-"), str(getattr(a, key))]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def sweep(a):
    """seqenc (both attention kernels) and the Python transformers at every n:batch of --seq-lens."""
    print(f"transformer d {a.num_hiddens}, {a.num_heads} heads, FFN {a.ffn_num_hiddens}, {a.num_layers} layers, "
          f"vocab {a.vocab_size}, dropout {a.dropout}, {a.threads} thread(s), {a.precision.split(',')[0]}, "
          f"torch {torch.__version__}; "
          f"valid lengths in [n/2, n]")
    print(f"{'implementation':<36} {'n':>5} {'batch':>5} {'tokens/s':>10} {'ms/step':>9} {'peak MB':>8} "
          f"{'fused vs this':>14}")
    for item in a.seq_lens.split(","):
        n, batch = (int(x) for x in item.split(":"))
        extra = {"bench.seq_lens": f"{n}:{batch}", "bench.reference_max_n": a.reference_max_n,
                 "data.max_len": max(n, 128)}
        out = subprocess.run(seqenc_args("transformer", a, extra), check=True, capture_output=True, text=True).stdout
        rows = [(f"seqenc ({r['attention']})", r) for r in map(json.loads, out.splitlines())]
        if n <= a.python_max_n:
            rows += [(label, time_python_child(name, a, n, batch)) for label, name in
                     (("book's Python TransformerEncoder", "book"), ("torch.nn.TransformerEncoder", "torch"))]
        fused = rows[0][1]["tokens_per_s"]
        for label, r in rows:
            ratio = "" if label == "seqenc (fused)" else f"{fused / r['tokens_per_s']:.2f}x"
            print(f"{label:<36} {n:>5} {batch:>5} {r['tokens_per_s']:>10.0f} {r['ms_per_step']:>9.2f} "
                  f"{r['peak_rss_mb']:>8.0f} {ratio:>14}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoders", default="transformer")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=1000)
    p.add_argument("--num-hiddens", type=int, default=64)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--num-heads", type=int, default=4)
    p.add_argument("--ffn-num-hiddens", type=int, default=128)
    p.add_argument("--kernel-size", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--attention", default="", help="seqenc's model.attention (default: its auto)")
    p.add_argument("--seq-lens", default="", help="sweep n:batch,... (transformers, peak RSS per run)")
    p.add_argument("--reference-max-n", type=int, default=2048, help="sweep: largest n for seqenc's reference path")
    p.add_argument("--python-max-n", type=int, default=2048, help="sweep: largest n for the Python models")
    p.add_argument("--precision", default="fp32",
                   help="fp32, bf16, or fp32,bf16 (both, side by side: seqenc's train.precision, PyTorch's CPU "
                        "autocast); a sweep uses the first")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.child:
        return child(a)
    if a.seq_lens:
        return sweep(a)
    rows = []
    precisions = a.precision.split(",")
    for precision in precisions:
        for encoder in a.encoders.split(","):
            ours = time_seqenc(encoder, a, precision)
            rows.append((f"seqenc {encoder} (C++)", precision, ours, None))
            for name, module in python_candidates(encoder, a):
                r = time_python(Tagger(module, a.num_hiddens, a.vocab_size), a, precision)
                rows.append((name, precision, r, ours["tokens_per_s"] / r["tokens_per_s"]))
    print(f"batch {a.batch_size} x n {a.seq_len}, d {a.num_hiddens}, {a.num_layers} layers, vocab {a.vocab_size}, "
          f"{a.threads} thread(s), torch {torch.__version__}")
    print(f"{'implementation':<36} {'precision':>9} {'tokens/s':>10} {'ms/step':>9} {'seqenc speed-up':>16}")
    for name, precision, r, ratio in rows:
        print(f"{name:<36} {precision:>9} {r['tokens_per_s']:>10.0f} {r['ms_per_step']:>9.2f} "
              f"{'' if ratio is None else f'{ratio:.2f}x':>16}")
    if len(precisions) > 1:
        print(f"\n{precisions[1]} against {precisions[0]} (tokens/s ratio), each implementation:")
        base = {name: r for name, precision, r, _ in rows if precision == precisions[0]}
        for name, precision, r, _ in rows:
            if precision == precisions[1]:
                print(f"{name:<36} {r['tokens_per_s'] / base[name]['tokens_per_s']:>9.2f}x")


def python_candidates(encoder, a):
    """The Python encoders that seqenc's `encoder` is measured against."""
    if encoder == "transformer":
        return [("book's Python TransformerEncoder", BookTransformerEncoder(
                    a.vocab_size, a.num_hiddens, a.ffn_num_hiddens, a.num_heads, a.num_layers, a.dropout)),
                ("torch.nn.TransformerEncoder", TorchTransformerEncoder(
                    a.vocab_size, a.num_hiddens, a.ffn_num_hiddens, a.num_heads, a.num_layers, a.dropout))]
    if encoder == "cnn":
        return [("PyTorch CNN encoder", CnnEncoder(a.vocab_size, a.num_hiddens, a.num_layers, a.kernel_size,
                                                   a.dropout))]
    return [("PyTorch nn.GRU encoder", GruEncoder(a.vocab_size, a.num_hiddens, a.num_layers, a.dropout))]

if __name__ == "__main__":
    main()
