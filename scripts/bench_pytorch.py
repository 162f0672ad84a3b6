#!/usr/bin/env python3
"""seqenc bench side by side with the same models and shapes in Python PyTorch, in one run.

Times, on the same machine and thread count, a training step of:
  - seqenc (`seqenc bench --json`) from each build given by --builds (build/: Debian's LibTorch 1.13,
    build-torch2/: the PyTorch 2.x wheel's LibTorch);
  - the Python peers, under each interpreter given by --python (Debian's /usr/bin/python3 has torch 1.13,
    .venv/bin/python the pinned 2.x):
      book         the book's implementation (D2L 11.3-11.7), written out below, eager;
      torch        torch.nn.TransformerEncoder with the same sizes, eager;
      sdpa         an encoder on F.scaled_dot_product_attention with the padding mask (2.x: the flash CPU kernel
                   where it applies), eager;
      cnn, gru     the CNN and GRU encoders as seqenc builds them, eager;
      X+compile    torch.compile of X's encoder (2.x); its compile time is reported on its own line and the
                   steady-state steps are timed after it.
A step is the one `seqenc bench` times: random tokens, random valid lengths in [n/2, n], a token-classification
head over the vocabulary applied at the labelled (valid) positions only, cross-entropy, backward, Adam. Each
Python peer runs at each size in a process of its own, so that its peak RSS and its compilation are its own.

Usage:
  scripts/bench_pytorch.py --seq-lens 128:32,512:8,2048:1 --num-hiddens 128 --ffn-num-hiddens 512 \\
      --python /usr/bin/python3,.venv/bin/python --builds build,build-torch2 --dropouts 0.1,0
  scripts/bench_pytorch.py --encoders cnn,rnn --seq-lens 128:32,128:1 --num-hiddens 64
  scripts/bench_pytorch.py --precision fp32,bf16          (one size, both precisions, PyTorch's CPU autocast)
  scripts/bench_pytorch.py --peers sdpa --seq-lens 512:8 --no-compile --profile   (the peer's top operators)
Rows name the build or interpreter and its torch version; each table ends with the fastest Python peer and
seqenc's best build against it. --json FILE also writes every row as one JSON object per line.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSFORMER_PEERS = ["book", "torch", "sdpa"]


def define_models():
    """The Python models, defined once torch is imported (the orchestrating process never imports it)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    # --- The book's implementation (D2L 11.3-11.7), PyTorch edition ----------------------------------------
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
            P = torch.zeros((1, max_len, num_hiddens))
            X = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
                10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
            P[:, :, 0::2] = torch.sin(X)
            P[:, :, 1::2] = torch.cos(X)
            self.register_buffer("P", P, persistent=False)

        def forward(self, X):
            return self.dropout(X + self.P[:, :X.shape[1], :])

    class PositionWiseFFN(nn.Module):
        def __init__(self, num_hiddens, ffn_num_hiddens):
            super().__init__()
            self.dense1 = nn.Linear(num_hiddens, ffn_num_hiddens)
            self.relu = nn.ReLU()
            self.dense2 = nn.Linear(ffn_num_hiddens, num_hiddens)

        def forward(self, X):
            return self.dense2(self.relu(self.dense1(X)))

    class AddNorm(nn.Module):
        def __init__(self, norm_shape, dropout):
            super().__init__()
            self.dropout = nn.Dropout(dropout)
            self.ln = nn.LayerNorm(norm_shape)

        def forward(self, X, Y):
            return self.ln(self.dropout(Y) + X)

    class BookBlock(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.attention = MultiHeadAttention(a.num_hiddens, a.num_heads, a.dropout)
            self.addnorm1 = AddNorm(a.num_hiddens, a.dropout)
            self.ffn = PositionWiseFFN(a.num_hiddens, a.ffn_num_hiddens)
            self.addnorm2 = AddNorm(a.num_hiddens, a.dropout)

        def forward(self, X, valid_lens):
            Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
            return self.addnorm2(Y, self.ffn(Y))

    # --- An encoder on scaled_dot_product_attention, as a speed-minded PyTorch 2.x user writes one ---------
    class SdpaBlock(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.num_heads, self.p = a.num_heads, a.dropout
            self.qkv = nn.Linear(a.num_hiddens, 3 * a.num_hiddens, bias=False)
            self.out = nn.Linear(a.num_hiddens, a.num_hiddens, bias=False)
            self.addnorm1 = AddNorm(a.num_hiddens, a.dropout)
            self.ffn = PositionWiseFFN(a.num_hiddens, a.ffn_num_hiddens)
            self.addnorm2 = AddNorm(a.num_hiddens, a.dropout)

        def forward(self, X, keep):  # keep: (B, 1, 1, n) bool, True at valid keys
            B, n, d = X.shape
            q, k, v = self.qkv(X).reshape(B, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
            O = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=self.p if self.training else 0.0)
            Y = self.addnorm1(X, self.out(O.transpose(1, 2).reshape(B, n, d)))
            return self.addnorm2(Y, self.ffn(Y))

    class Transformer(nn.Module):
        """Embedding (scaled by sqrt(d), as the book), sinusoidal positions, then the blocks of `kind`."""

        def __init__(self, kind, a):
            super().__init__()
            self.kind, self.num_hiddens = kind, a.num_hiddens
            self.embedding = nn.Embedding(a.vocab_size, a.num_hiddens)
            self.pos_encoding = PositionalEncoding(a.num_hiddens, a.dropout, max_len=max(a.max_n, 1000))
            if kind == "torch":
                layer = nn.TransformerEncoderLayer(a.num_hiddens, a.num_heads, a.ffn_num_hiddens, a.dropout,
                                                   batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, a.num_layers, enable_nested_tensor=False)
            else:
                block = BookBlock if kind == "book" else SdpaBlock
                self.blocks = nn.ModuleList(block(a) for _ in range(a.num_layers))

        def forward(self, X, valid_lens):
            X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
            valid = torch.arange(X.shape[1], device=X.device)[None, :] < valid_lens[:, None]
            if self.kind == "torch":
                return self.encoder(X, src_key_padding_mask=~valid)
            mask = valid_lens if self.kind == "book" else valid[:, None, None, :]
            for block in self.blocks:
                X = block(X, mask)
            return X

    # --- CNN and GRU encoders as seqenc builds them ------------------------------------------------------
    class CnnEncoder(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.embedding = nn.Embedding(a.vocab_size, a.num_hiddens)
            self.convs = nn.ModuleList(nn.Conv1d(a.num_hiddens, a.num_hiddens, a.kernel_size,
                                                 padding=a.kernel_size // 2) for _ in range(a.num_layers))
            self.norms = nn.ModuleList(nn.LayerNorm(a.num_hiddens) for _ in range(a.num_layers))
            self.dropout = nn.Dropout(a.dropout)

        def forward(self, X, valid_lens):
            mask = (torch.arange(X.shape[1], device=X.device)[None, :] < valid_lens[:, None]).unsqueeze(-1).float()
            X = self.dropout(self.embedding(X))
            for conv, norm in zip(self.convs, self.norms):
                H = F.relu(conv((X * mask).transpose(1, 2)).transpose(1, 2))
                X = norm(X + self.dropout(H))
            return X * mask

    class GruEncoder(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.embedding = nn.Embedding(a.vocab_size, a.num_hiddens)
            self.rnn = nn.GRU(a.num_hiddens, a.num_hiddens, a.num_layers, batch_first=True,
                              dropout=a.dropout if a.num_layers > 1 else 0.0)
            self.dropout = nn.Dropout(a.dropout)

        def forward(self, X, valid_lens):
            mask = (torch.arange(X.shape[1], device=X.device)[None, :] < valid_lens[:, None]).unsqueeze(-1).float()
            S, _ = self.rnn(self.dropout(self.embedding(X)))
            return self.dropout(S) * mask

    def make(peer, a):
        base = peer.replace("+compile", "")
        if base in TRANSFORMER_PEERS:
            return Transformer(base, a)
        return CnnEncoder(a) if base == "cnn" else GruEncoder(a)

    return make


def run_child(a):
    """One Python peer at one size in this process: prints one JSON line."""
    import resource
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.set_num_threads(a.threads)
    compiled = a.child.endswith("+compile")
    if compiled and not hasattr(torch, "compile"):
        print(json.dumps({"skipped": f"torch {torch.__version__} has no torch.compile"}))
        return
    if a.child.startswith("sdpa") and not hasattr(F, "scaled_dot_product_attention"):
        print(json.dumps({"skipped": f"torch {torch.__version__} has no scaled_dot_product_attention"}))
        return
    torch.manual_seed(1)
    encoder = define_models()(a.child, a)
    output = nn.Linear(a.num_hiddens, a.vocab_size)
    params = list(encoder.parameters()) + list(output.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    # The encoder is compiled (fixed shapes: tokens and valid lengths); the head runs on the labelled positions,
    # whose count changes every step, in eager mode as seqenc's does.
    forward = torch.compile(encoder) if compiled else encoder
    encoder.train()

    def step():
        tokens = torch.randint(5, a.vocab_size, (a.batch_size, a.seq_len))
        lens = torch.randint(a.seq_len // 2, a.seq_len + 1, (a.batch_size,))
        labels = torch.randint(0, a.vocab_size, (a.batch_size, a.seq_len))
        keep = torch.arange(a.seq_len)[None, :] < lens[:, None]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits = output(forward(tokens, lens)[keep])
            loss = F.cross_entropy(logits.float(), labels[keep])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()  # compiles, for a compiled peer
    compile_s = time.perf_counter() - start if compiled else 0.0
    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        times.append((time.perf_counter() - start) * 1000 / a.steps)
    ms = statistics.median(times)
    if a.profile:  # the peer's side of seqenc bench --profile: top operators of two steps by self time
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20), file=sys.stderr)
    print(json.dumps({"ms_per_step": ms, "tokens_per_s": a.batch_size * a.seq_len / (ms / 1000),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "compile_s": compile_s, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


SHARED_KEYS = ("vocab_size", "num_hiddens", "num_layers", "num_heads", "ffn_num_hiddens", "kernel_size", "threads",
               "steps", "repeats", "warmup", "max_n")


def time_python(python, peer, a, n, batch, dropout, precision):
    args = [python, __file__, "--child", peer, "--seq-len", str(n), "--batch-size", str(batch), "--dropout",
            str(dropout), "--precision", precision]
    for key in SHARED_KEYS:
        args += ["--" + key.replace("_", "-"), str(getattr(a, key))]
    if a.profile:
        args.append("--profile")
    done = subprocess.run(args, capture_output=True, text=True)
    if a.profile and done.returncode == 0:
        print(f"\n{peer}, n {n} x batch {batch}: top operators of two steps under torch.profiler\n{done.stderr}")
    if done.returncode != 0:
        return {"skipped": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.splitlines()[-1])


def time_seqenc(build, encoder, a, n, batch, dropout, precision):
    binary = ROOT / build / "bin" / "seqenc"
    if not binary.exists():
        return {"skipped": f"{build}/bin/seqenc not built"}
    sets = {"model.encoder": encoder, "model.num_hiddens": a.num_hiddens, "model.num_layers": a.num_layers,
            "model.num_heads": a.num_heads, "model.ffn_num_hiddens": a.ffn_num_hiddens, "model.dropout": dropout,
            "model.kernel_size": a.kernel_size, "bench.vocab_size": a.vocab_size, "bench.steps": a.steps,
            "bench.repeats": a.repeats, "bench.warmup": a.warmup, "train.threads": a.threads,
            "train.precision": precision, "bench.seq_len": n, "bench.batch_size": batch,
            "data.max_len": max(n, 128)}
    if a.attention:
        sets["model.attention"] = a.attention
    args = [str(binary), "bench", "--json"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        return {"skipped": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.splitlines()[0])


def interpreter_label(python):
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def seqenc_label(build):
    binary = ROOT / build / "bin" / "seqenc"
    if not binary.exists():
        return f"seqenc ({build}, not built)"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    return f"seqenc {version.split('(')[-1].rstrip(')')} ({build})"


def peers_for(encoder, a):
    base = TRANSFORMER_PEERS if encoder == "transformer" else ["cnn" if encoder == "cnn" else "gru"]
    chosen = [p for p in base if not a.peers or p in a.peers.split(",")]
    return chosen + ([p + "+compile" for p in chosen] if a.compile else [])


def compare(encoder, a, n, batch, dropout, precision, pythons, out):
    print(f"\n{encoder}, n {n} x batch {batch}, d {a.num_hiddens}, {a.num_layers} layers"
          f"{f', {a.num_heads} heads, FFN {a.ffn_num_hiddens}' if encoder == 'transformer' else ''}, "
          f"vocab {a.vocab_size}, dropout {dropout}, {precision}, {a.threads} thread(s)")
    print(f"{'implementation':<44} {'tokens/s':>10} {'ms/step':>9} {'peak MB':>8} {'compile s':>9}")
    rows = []
    for build in a.builds.split(","):
        r = time_seqenc(build, encoder, a, n, batch, dropout, precision)
        attention = f" [{r['attention']}]" if r.get("attention") else ""
        rows.append(("seqenc", seqenc_label(build) + attention, r))
    for python, version in pythons:
        for peer in peers_for(encoder, a):
            rows.append(("python", f"{peer}, PyTorch {version}", time_python(python, peer, a, n, batch, dropout,
                                                                             precision)))
    for kind, label, r in rows:
        if "skipped" in r:
            print(f"{label:<44} skipped: {r['skipped']}")
            continue
        compile_s = f"{r['compile_s']:.1f}" if r.get("compile_s") else ""
        print(f"{label:<44} {r['tokens_per_s']:>10.0f} {r['ms_per_step']:>9.2f} {r['peak_rss_mb']:>8.0f} "
              f"{compile_s:>9}", flush=True)
        if out:
            out.write(json.dumps({"encoder": encoder, "n": n, "batch": batch, "dropout": dropout,
                                  "precision": precision, "kind": kind, "implementation": label, **r}) + "\n")
    timed = [(kind, label, r) for kind, label, r in rows if "skipped" not in r]
    ours = [x for x in timed if x[0] == "seqenc"]
    peers = [x for x in timed if x[0] == "python"]
    if ours and peers:
        best_ours, best_peer = (max(group, key=lambda x: x[2]["tokens_per_s"]) for group in (ours, peers))
        print(f"fastest PyTorch peer: {best_peer[1]}; {best_ours[1]} is "
              f"{best_ours[2]['tokens_per_s'] / best_peer[2]['tokens_per_s']:.2f}x its tokens/s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoders", default="transformer", help="transformer, cnn, rnn (comma-separated)")
    p.add_argument("--seq-lens", default="128:32", help="n:batch,... ")
    p.add_argument("--seq-len", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    p.add_argument("--dropouts", default="0.1", help="model dropout values, e.g. 0.1,0")
    p.add_argument("--dropout", type=float, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--precision", default="fp32", help="fp32, bf16, or fp32,bf16 (PyTorch: CPU autocast)")
    p.add_argument("--python", default="/usr/bin/python3",
                   help="interpreters for the Python peers, comma-separated (e.g. /usr/bin/python3,.venv/bin/python)")
    p.add_argument("--builds", default="build", help="seqenc builds, comma-separated (e.g. build,build-torch2)")
    p.add_argument("--peers", default="", help="only these Python peers (book, torch, sdpa, cnn, gru)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="leave out torch.compile peers")
    p.add_argument("--attention", default="", help="seqenc's model.attention (default: its auto)")
    p.add_argument("--vocab-size", type=int, default=1000)
    p.add_argument("--num-hiddens", type=int, default=128)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--num-heads", type=int, default=4)
    p.add_argument("--ffn-num-hiddens", type=int, default=512)
    p.add_argument("--kernel-size", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-n", type=int, default=8192, help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true",
                   help="also print each Python peer's top operators (torch.profiler; seqenc's: seqenc bench --profile)")
    p.add_argument("--json", default="", help="also write every row to this file, one JSON object per line")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        a.seq_len = a.seq_len or 128
        return run_child(a)
    pythons = []
    for python in a.python.split(","):
        version = interpreter_label(python)
        if version is None:
            print(f"{python}: no torch there; its peers are left out")
        else:
            pythons.append((python, version))
    sizes = [tuple(int(x) for x in item.split(":")) for item in a.seq_lens.split(",")]
    if a.seq_len:  # the older single-size form: --seq-len N --batch-size B
        sizes = [(a.seq_len, a.batch_size)]
    a.max_n = max(n for n, _ in sizes)
    print(f"machine: {os.cpu_count()} CPU(s), {a.threads} thread(s) each; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; Python peers: "
          + ", ".join(f"{p} (torch {v})" for p, v in pythons))
    out = open(a.json, "w") if a.json else None
    for precision in a.precision.split(","):
        for encoder in a.encoders.split(","):
            for dropout in (float(d) for d in a.dropouts.split(",")):
                for n, batch in sizes:
                    compare(encoder, a, n, batch, dropout, precision, pythons, out)
    if out:
        out.close()


if __name__ == "__main__":
    main()
