// The one typed configuration of a Retort job: C++ structs with their defaults. The schema
// (schema.h) binds every field to its YAML key path, type, range and documentation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace retort::core {

struct RunConfig {
  std::string name;                 // required
  std::string out_dir = "runs/${run.name}";
  int64_t seed = 1;
  std::string resume = "auto";      // auto | never
};

struct ClusterConfig {
  int64_t teachers = 1;
  int64_t students = 1;
  std::string placement = "node-local";  // node-local | round-robin
  int64_t emulate_nodes = 0;             // 0 = use the real node layout
};

struct DataConfig {
  std::string dataset = "fashion_mnist";  // fashion_mnist | tokens | copy_task
  std::string dir = "/usr/share/datasets/fashion-mnist";
  double train_fraction = 1.0;   // fixed, seeded subset of the training set
  int64_t jitter_px = 0;         // random +-pixels shift augmentation (0 = off)
  bool normalize = true;         // standardise with training-set mean/std
  // Language-model data (tokens: shards of `retort tokenize` in dir; copy_task: synthetic).
  int64_t seq_len = 128;         // T: tokens per training sequence (windows hold T + 1)
  int64_t copy_train_size = 16384;  // copy_task: training sequences
  int64_t eval_windows = 0;      // validation sequences evaluated (0 = all; copy_task: 512)
};

// Model spec: `mlp` with hidden sizes, or `llama` (a Llama-family transformer); shared by the
// student and (in its checkpoint) the teacher.
struct ModelConfig {
  std::string arch = "mlp";
  std::vector<int64_t> hidden = {800, 800};
  std::string activation = "relu";  // relu | gelu
  double dropout = 0.0;
  double input_dropout = 0.0;
  double max_norm = 0.0;            // 0 = no max-norm constraint
  std::string init = "kaiming";     // kaiming | xavier
  // arch: llama (core/lm/llama_config.h); 0 means "derived" where noted.
  int64_t vocab_size = 0;           // 0 = the data's vocabulary
  int64_t dim = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;           // 0 = n_heads
  int64_t ffn_dim = 0;              // 0 = 8·dim/3 rounded up to a multiple of 16
  int64_t max_seq_len = 0;          // 0 = data.seq_len
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tie_embeddings = true;
  bool qkv_bias = false;
  std::string init_from;            // HF model dir, .gguf or Retort LM weights: start from these
};

struct TeacherConfig {
  bool present = false;             // true when the config has a `teacher:` section
  std::string source = "online";    // online | cache
  std::string checkpoint;           // required for source=online
  std::string cache_dir;            // required for source=cache
  std::string device = "auto";      // auto (= the job's device) | cpu | cuda: where online teachers run
};

// What a teacher hands a student per row / token (distill.targets, resolved when the config loads).
enum class DistillTargets : uint8_t { dense, topk, sampled };

struct DistillConfig {
  std::string divergence = "fkl";   // fkl | rkl | jsd | tvd
  double temperature = 4.0;
  double alpha = 0.1;               // weight of the hard-label CE term
  double beta = 0.5;                // jsd interpolation
  int64_t topk = 0;                 // 0 = dense
  std::string tail = "bucket";      // bucket | renormalize
  std::string wire_dtype = "fp32";  // fp32 | bf16
  int64_t lookahead = 4;
  int64_t teacher_batch = 0;        // 0 = one forward per student message
  std::string targets = "auto";     // auto | dense | topk | sampled (auto: topk when topk > 0)
  DistillTargets target_kind = DistillTargets::dense;  // `targets` resolved by load_config
  int64_t samples = 16;             // sampled: n draws per token
  bool vocab_truncate = false;      // use the first V rows of a teacher head padded past V
};

struct OptimConfig {
  std::string name = "sgd";         // sgd | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip_grad_norm = 0.0;      // 0 = no clipping
};

struct ScheduleConfig {
  std::string name = "cosine";      // constant | step | cosine
  int64_t warmup_steps = 0;
  int64_t step_size = 1000;         // for name=step
  double gamma = 0.1;               // for name=step
  double min_lr = 0.0;              // for name=cosine
};

struct TrainConfig {
  int64_t batch_size = 128;         // global, split across students
  int64_t epochs = 10;
  int64_t max_steps = 0;            // 0 = no limit
  int64_t eval_every_steps = 0;     // 0 = only at the end
  int64_t eval_batch_size = 1000;
  int64_t checkpoint_every_steps = 0;  // 0 = only at the end
  int64_t keep_checkpoints = 2;
  double step_timeout_s = 300;
  int64_t log_every_steps = 50;
  std::string nan_policy = "abort"; // skip | abort
  double head_chunk_mb = 64;        // LM head + loss: memory budget of one chunk's logits
};

struct CommConfig {
  double bucket_mb = 0;             // 0 = default (16 on cpu, 25 on cuda)
  std::string grad_dtype = "fp32";  // fp32 | bf16
};

struct LoggingConfig {
  std::string level = "info";       // debug | info | warn | error
  std::string progress = "auto";    // auto | always | never
};

struct LaunchConfig {
  std::string via = "auto";         // auto | mpirun | srun
  std::string hostfile;
  std::string mpirun_args;
};

struct Config {
  RunConfig run;
  std::string device = "cpu";       // cpu | cuda
  std::string transport = "auto";   // auto | mpi | nccl
  ClusterConfig cluster;
  DataConfig data;
  TeacherConfig teacher;
  ModelConfig student;
  DistillConfig distill;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  CommConfig comm;
  LoggingConfig logging;
  LaunchConfig launch;

  // The file the config came from ("" when built in code) and its content hash (XXH3-64 of the
  // resolved YAML), recorded in checkpoints so a resume with another config is refused.
  std::string source_file;
  uint64_t hash = 0;

  // Ranks of a `retort train` job: teachers + students for online distillation, else students.
  bool online_teachers() const { return teacher.present && teacher.source == "online"; }
  // Where online teachers run: teacher.device, or the job's device when it is auto.
  const std::string& teacher_device() const { return teacher.device == "auto" ? device : teacher.device; }
  // `transport` resolved (load.cpp refuses the combinations that cannot work): the students'
  // gradients go over NCCL on GPUs; the teacher->student logits over NCCL when both ends of every
  // pair are on GPUs (online teachers and students on cuda), else over MPI.
  const char* gradient_transport() const { return device == "cuda" && transport != "mpi" ? "nccl" : "mpi"; }
  const char* logits_transport() const {
    return online_teachers() && device == "cuda" && teacher_device() == "cuda" && transport != "mpi" ? "nccl" : "mpi";
  }
  int64_t world_size() const { return online_teachers() ? cluster.teachers + cluster.students : cluster.students; }
};

}  // namespace retort::core
