// The train.* keys: how a run trains (the train layer's part of the configuration schema).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "seqenc/choices.h"
#include "seqenc/nn/matmul_route.h"
#include "seqenc/nn/precision.h"
#include "seqenc/schema.h"

namespace seqenc {

enum class OptimizerKind { adam, adamw, sgd };
enum class Schedule { constant, warmup_inverse_sqrt, cosine };
enum class DeviceKind { cpu, cuda, automatic };
SEQENC_CHOICES(OptimizerKind, {OptimizerKind::adam, "adam"}, {OptimizerKind::adamw, "adamw"},
               {OptimizerKind::sgd, "sgd"});
SEQENC_CHOICES(Schedule, {Schedule::constant, "constant"}, {Schedule::warmup_inverse_sqrt, "warmup_inverse_sqrt"},
               {Schedule::cosine, "cosine"});
SEQENC_CHOICES(DeviceKind, {DeviceKind::cpu, "cpu"}, {DeviceKind::cuda, "cuda"}, {DeviceKind::automatic, "auto"});

struct TrainOptions {
  int64_t steps = 1000;  // set steps or epochs (the other 0)
  int64_t epochs = 0;
  int64_t batch_size = 32;  // per rank and micro-step: the global batch is batch_size x world size x accumulate_steps
  int64_t accumulate_steps = 1;  // micro-batches per optimizer step (gradient accumulation)
  double lr = 1e-3;
  OptimizerKind optimizer = OptimizerKind::adam;
  double weight_decay = 0.0;
  Schedule schedule = Schedule::constant;
  int64_t warmup = 0;      // steps of linear warm-up
  double clip_norm = 1.0;  // 0: no clipping
  double label_smoothing = 0.0;
  uint64_t seed = 1;
  int64_t threads = 0;  // 0: LibTorch's default
  DeviceKind device = DeviceKind::cpu;
  Precision precision = Precision::fp32;        // bf16: products in bf16 (nn/precision.h); validation stays fp32
  MatmulRoute matmul = MatmulRoute::automatic;  // seqenc's linears: oneDNN or LibTorch's BLAS (nn/autotune.h)
  BlasChoice blas = BlasChoice::automatic;      // LibTorch's own products: oneDNN through the program, or its BLAS
  int64_t eval_every = 200;                     // steps between validations (and checkpoints)
  int64_t log_every = 50;                       // steps between training log lines
  int64_t early_stopping = 0;                   // validations without improvement before stopping; 0: off
  bool bucket = false;                          // batch examples of similar length together
  double dist_timeout_s = 60;                   // data parallelism: rendezvous and collectives fail after this long
  bool dist_overlap = true;                     // reduce gradients during backward (c10d::Reducer), else after it
  double dist_bucket_mb = 25;                   // gradient buckets of about this many MB (PyTorch DDP's default)
  bool tensorboard = false;                     // TensorBoard events files in RUN/tb/ as the run goes
  std::string tensorboard_hparams;              // comma-separated keys TensorBoard shows as the run's hyperparameters
};

void add_train_keys(Schema& schema, TrainOptions& train);
// Every problem of the train.* keys, each "train.key: problem".
std::vector<std::string> train_problems(const TrainOptions& train);

}  // namespace seqenc
