#include "seqenc/train/train_options.h"

namespace seqenc {

void add_train_keys(Schema& s, TrainOptions& t) {
  s.add("train.steps", t.steps, "optimizer steps (or set train.epochs)");
  s.add("train.epochs", t.epochs, "epochs (used when train.steps is 0)");
  s.add("train.batch_size", t.batch_size,
        "examples per micro-batch and rank (global batch: batch_size x world size x accumulate_steps)");
  s.add("train.accumulate_steps", t.accumulate_steps,
        "micro-batches per optimizer step, their gradients accumulated (data parallelism: reduced on the last only)");
  s.add("train.lr", t.lr, "peak learning rate");
  s.add("train.optimizer", t.optimizer, "optimizer");
  s.add("train.weight_decay", t.weight_decay, "weight decay");
  s.add("train.schedule", t.schedule, "learning-rate schedule");
  s.add("train.warmup", t.warmup, "linear warm-up steps");
  s.add("train.clip_norm", t.clip_norm, "gradient norm clipping; 0 turns it off");
  s.add("train.label_smoothing", t.label_smoothing, "label smoothing of the cross-entropy");
  s.add("train.seed", t.seed, "seed for initialisation, dropout and batch order");
  s.add("train.threads", t.threads, "intra-op CPU threads; 0: LibTorch's default (--nproc: cores / workers)");
  s.add("train.device", t.device, "device");
  s.add("train.precision", t.precision,
        "bf16: matrix products in bf16 with fp32 accumulation, fp32 weights, optimizer state and checkpoints "
        "(CPU); also what bench times");
  s.add("train.matmul", t.matmul,
        "seqenc's linear layers: oneDNN's sgemm, LibTorch's own BLAS (MKL or OpenBLAS), or auto: the faster here "
        "(measured once per machine and shape, cached)");
  s.add("train.blas", t.blas,
        "LibTorch's own products (convolutions, GRU cells, the reference attention): answered by oneDNN through "
        "the seqenc program, by LibTorch's BLAS, or auto: the faster here");
  s.add("train.eval_every", t.eval_every, "steps between validations and checkpoints");
  s.add("train.log_every", t.log_every, "steps between training log lines");
  s.add("train.early_stopping", t.early_stopping, "validations without improvement before stopping; 0: off");
  s.add("train.bucket", t.bucket, "batch examples of similar length together");
  s.add("train.dist_timeout_s", t.dist_timeout_s,
        "data parallelism (--nproc): seconds a rank waits for the others (rendezvous, each collective)");
  s.add("train.dist_overlap", t.dist_overlap,
        "data parallelism: reduce gradients while backward runs (c10d::Reducer), else after it (for measuring)");
  s.add("train.dist_bucket_mb", t.dist_bucket_mb, "data parallelism: MB of gradients per allreduce bucket");
  s.add("train.tensorboard", t.tensorboard,
        "write TensorBoard events files in RUN/tb/ as the run goes (training loss, lr, tokens/s, validation metrics)");
  s.add("train.tensorboard_hparams", t.tensorboard_hparams,
        "comma-separated config keys TensorBoard shows as the run's hyperparameters (seqenc sweep: the swept keys "
        "and train.seed)");
}

std::vector<std::string> train_problems(const TrainOptions& t) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(t.steps >= 0, "train.steps: must be >= 0");
  need(t.epochs >= 0, "train.epochs: must be >= 0");
  need(t.steps > 0 || t.epochs > 0, "train.steps, train.epochs: set one of them > 0");
  need(!(t.steps > 0 && t.epochs > 0), "train.steps, train.epochs: set only one of them (the other 0)");
  need(t.batch_size > 0, "train.batch_size: must be > 0");
  need(t.accumulate_steps >= 1, "train.accumulate_steps: must be >= 1, got " + std::to_string(t.accumulate_steps));
  need(t.lr > 0, "train.lr: must be > 0");
  need(t.weight_decay >= 0, "train.weight_decay: must be >= 0");
  need(t.warmup >= 0, "train.warmup: must be >= 0");
  need(t.schedule != Schedule::warmup_inverse_sqrt || t.warmup > 0,
       "train.warmup: must be > 0 for warmup_inverse_sqrt");
  need(t.clip_norm >= 0, "train.clip_norm: must be >= 0");
  need(t.label_smoothing >= 0 && t.label_smoothing < 1, "train.label_smoothing: must be in [0, 1)");
  need(t.threads >= 0, "train.threads: must be >= 0");
  need(t.eval_every > 0, "train.eval_every: must be > 0");
  need(t.log_every > 0, "train.log_every: must be > 0");
  need(t.early_stopping >= 0, "train.early_stopping: must be >= 0");
  need(t.dist_timeout_s > 0, "train.dist_timeout_s: must be > 0");
  need(t.dist_bucket_mb > 0 && t.dist_bucket_mb <= 1024, "train.dist_bucket_mb: must be in (0, 1024]");
  need(t.precision == Precision::fp32 || t.device != DeviceKind::cuda,
       "train.precision: bf16 runs on the CPU (train.device: cpu); on a GPU use fp32");
  return p;
}

}  // namespace seqenc
