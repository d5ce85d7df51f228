// The schema table: every config key with its type, bounds, choices and documentation.
#include "core/config/schema.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <type_traits>

namespace retort::core {
namespace {

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "null";
}

template <typename T>
std::string convert(const YAML::Node& n, T& out) {
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    if (!n.IsSequence()) return "expected a list of integers, got " + scalar_text(n);
    std::vector<int64_t> v;
    for (const auto& item : n) {
      int64_t x = 0;
      if (!item.IsScalar() || !YAML::convert<int64_t>::decode(item, x))
        return "expected a list of integers, got element '" + scalar_text(item) + "'";
      v.push_back(x);
    }
    out = std::move(v);
    return "";
  } else {
    if (!n.IsScalar()) return std::string("expected ") +
        (std::is_same_v<T, bool> ? "true or false" : std::is_same_v<T, int64_t> ? "an integer"
         : std::is_same_v<T, double> ? "a number" : "a string") + ", got " + scalar_text(n);
    T value{};
    if (!YAML::convert<T>::decode(n, value)) {
      if constexpr (std::is_same_v<T, bool>) return "expected true or false, got '" + n.Scalar() + "'";
      if constexpr (std::is_same_v<T, int64_t>) return "expected an integer, got '" + n.Scalar() + "'";
      if constexpr (std::is_same_v<T, double>) return "expected a number, got '" + n.Scalar() + "'";
      return "expected a string, got '" + n.Scalar() + "'";
    }
    if constexpr (std::is_same_v<T, double>) {
      if (!std::isfinite(value)) return "expected a finite number, got '" + n.Scalar() + "'";
    }
    out = value;
    return "";
  }
}

template <typename T>
constexpr FieldType type_of() {
  if constexpr (std::is_same_v<T, int64_t>) return FieldType::integer;
  else if constexpr (std::is_same_v<T, double>) return FieldType::number;
  else if constexpr (std::is_same_v<T, bool>) return FieldType::boolean;
  else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return FieldType::int_list;
  else return FieldType::string;
}

// Binds a key path to a member of Config through an accessor returning a reference.
template <typename Access>
Field bind(std::string path, Access access, std::string doc) {
  using T = std::remove_reference_t<decltype(access(std::declval<Config&>()))>;
  Field f;
  f.path = std::move(path);
  f.type = type_of<T>();
  f.doc = std::move(doc);
  f.get = [access](const Config& c) {
    const T& value = access(const_cast<Config&>(c));
    if constexpr (std::is_same_v<T, double>) return YAML::Node(fmt::format("{}", value));  // shortest exact
    else return YAML::Node(value);
  };
  f.set = [access](Config& c, const YAML::Node& n) { return convert<T>(n, access(c)); };
  return f;
}

#define RETORT_KEY(member) #member, [](Config& c) -> auto& { return c.member; }

std::vector<Field> build_schema() {
  std::vector<Field> s;
  auto add = [&](Field f) -> Field& { s.push_back(std::move(f)); return s.back(); };
  // run
  add(bind(RETORT_KEY(run.name), "Name of the run; used in the default output directory and logs.")).is_required().operational();
  add(bind(RETORT_KEY(run.out_dir), "Output directory: metrics.jsonl, checkpoints/, final.safetensors, summary.json. `${run.name}` is substituted.")).operational();
  add(bind(RETORT_KEY(run.seed), "Seed of every random choice (initialisation, sampling, dropout, jitter, data subset).")).with_range(0, std::nullopt);
  add(bind(RETORT_KEY(run.resume), "`auto`: continue from the newest checkpoint in out_dir that verifies; `never`: refuse to start when checkpoints exist.")).with_choices({"auto", "never"}).operational();
  // top-level
  add(bind(RETORT_KEY(device), "Where models and kernels run.")).with_choices({"cpu", "cuda"});
  add(bind(RETORT_KEY(transport), "How logits and gradients move. `auto`: gradients over nccl with device cuda, teacher logits over nccl when teachers and students are both on cuda (teacher.device), else mpi; `nccl`: the same, refused where an end is on the CPU; `mpi`: everything through host memory (not with device cuda).")).with_choices({"auto", "mpi", "nccl"});
  // cluster
  add(bind(RETORT_KEY(cluster.teachers), "Teacher ranks (distillation only). teachers + students must equal the MPI world size.")).with_range(1, 4096).operational();
  add(bind(RETORT_KEY(cluster.students), "Data-parallel student ranks (all ranks in supervised training).")).with_range(1, 65536);
  add(bind(RETORT_KEY(cluster.placement), "`node-local`: a student is served by a teacher on its own node when there is one; `round-robin`: ignore nodes.")).with_choices({"node-local", "round-robin"}).operational();
  add(bind(RETORT_KEY(cluster.emulate_nodes), "Split one machine's ranks into N virtual nodes (0 = real node layout), to test placement on one machine.")).with_range(0, 4096).operational();
  // data
  add(bind(RETORT_KEY(data.dataset), "Dataset: `fashion_mnist` (IDX files as in MNIST, arch mlp); `tokens` (token shards written by `retort tokenize` in data.dir, arch llama); `copy_task` (synthetic: random symbols, a separator, the same symbols again; arch llama).")).with_choices({"fashion_mnist", "mnist", "tokens", "copy_task"});
  add(bind(RETORT_KEY(data.dir), "fashion_mnist: directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; tokens: the token shard directory.")).existing_path();
  add(bind(RETORT_KEY(data.train_fraction), "Fraction of the training set used (a fixed subset chosen from run.seed).")).with_range(0, 1).positive();
  add(bind(RETORT_KEY(data.jitter_px), "Random shift of each training image by up to this many pixels (0 = off).")).with_range(0, 4);
  add(bind(RETORT_KEY(data.normalize), "Standardise pixels with the training set's mean and standard deviation."));
  add(bind(RETORT_KEY(data.seq_len), "Language models: tokens per training sequence T (each window holds T + 1 tokens; copy_task: an even T, half symbols, half their copy).")).with_range(2, 1 << 20);
  add(bind(RETORT_KEY(data.copy_train_size), "copy_task: number of training sequences (the validation sequences are drawn apart from them).")).with_range(1, int64_t{1} << 40);
  add(bind(RETORT_KEY(data.eval_windows), "Language models: validation sequences evaluated (0 = the whole validation split; copy_task: 512).")).with_range(0, int64_t{1} << 40);
  // teacher
  add(bind(RETORT_KEY(teacher.source), "`online`: teacher ranks run inference during training; `cache`: read logits written by `retort teach`.")).with_choices({"online", "cache"}).operational();
  add(bind(RETORT_KEY(teacher.checkpoint), "Teacher checkpoint (final.safetensors of a supervised run; its manifest holds the model spec). Required for source online and for `retort teach`."));
  add(bind(RETORT_KEY(teacher.device), "Where online teacher ranks run: `auto` = the job's `device`; `cpu` teachers may feed cuda students (logits over mpi, uploaded by the student). Teachers run in batch-invariant mode on either. `retort teach` runs on the CPU.")).with_choices({"auto", "cpu", "cuda"});
  add(bind(RETORT_KEY(teacher.cache_dir), "Directory of teacher logits shards (written by `retort teach`, read with source cache).")).operational();
  // student model
  add(bind(RETORT_KEY(student.arch), "Model family of the network this job trains (the student; in supervised training the network itself).")).with_choices({"mlp", "llama"});
  add(bind(RETORT_KEY(student.hidden), "mlp: hidden layer widths, input to output."));
  add(bind(RETORT_KEY(student.activation), "Hidden activation.")).with_choices({"relu", "gelu"});
  add(bind(RETORT_KEY(student.dropout), "Dropout probability (training only): mlp after each hidden layer; llama on the attention and MLP outputs before each residual add, keyed by (sample, position).")).with_range(0, 0.95);
  add(bind(RETORT_KEY(student.input_dropout), "Dropout probability on the input pixels (training only).")).with_range(0, 0.95);
  add(bind(RETORT_KEY(student.max_norm), "Max L2 norm of each unit's incoming weights after every step (Hinton et al.); 0 = off.")).with_range(0, std::nullopt);
  add(bind(RETORT_KEY(student.init), "mlp: weight initialisation.")).with_choices({"kaiming", "xavier"});
  add(bind(RETORT_KEY(student.vocab_size), "llama: vocabulary size (0 = the data's; else at least the data's).")).with_range(0, (int64_t{1} << 31) - 1);
  add(bind(RETORT_KEY(student.dim), "llama: model width d.")).with_range(1, 1 << 16);
  add(bind(RETORT_KEY(student.n_layers), "llama: transformer blocks.")).with_range(1, 1024);
  add(bind(RETORT_KEY(student.n_heads), "llama: query heads (head_dim = dim / n_heads, even).")).with_range(1, 1024);
  add(bind(RETORT_KEY(student.n_kv_heads), "llama: key/value heads of grouped-query attention (0 = n_heads; must divide n_heads).")).with_range(0, 1024);
  add(bind(RETORT_KEY(student.ffn_dim), "llama: SwiGLU hidden width (0 = 8·dim/3 rounded up to a multiple of 16).")).with_range(0, 1 << 20);
  add(bind(RETORT_KEY(student.max_seq_len), "llama: longest sequence the model serves (0 = data.seq_len).")).with_range(0, 1 << 24);
  add(bind(RETORT_KEY(student.rope_theta), "llama: RoPE base θ (rotate-half convention).")).with_range(0, 1e12).positive();
  add(bind(RETORT_KEY(student.norm_eps), "llama: RMSNorm ε.")).with_range(0, 1).positive();
  add(bind(RETORT_KEY(student.tie_embeddings), "llama: the output head is the input embedding (no lm_head.weight)."));
  add(bind(RETORT_KEY(student.qkv_bias), "llama: biases on the q/k/v projections (Qwen2 style)."));
  add(bind(RETORT_KEY(student.init_from), "llama: start from these weights (a Hugging Face model directory, a .gguf file or Retort LM weights); the model shape is then the file's. Empty = random initialisation from run.seed."));
  // distill
  add(bind(RETORT_KEY(distill.divergence), "Divergence between teacher p and student q at temperature T: fkl = T²·KL(p‖q), rkl = T²·KL(q‖p), jsd(β), tvd.")).with_choices({"fkl", "rkl", "jsd", "tvd"});
  add(bind(RETORT_KEY(distill.temperature), "Softmax temperature T of teacher and student.")).with_range(0, 1000).positive();
  add(bind(RETORT_KEY(distill.alpha), "Weight of the hard-label cross-entropy: loss = (1-α)·divergence + α·CE.")).with_range(0, 1);
  add(bind(RETORT_KEY(distill.beta), "Interpolation of the generalised JSD (0 = fkl, 1 = rkl).")).with_range(0, 1);
  add(bind(RETORT_KEY(distill.topk), "Teacher logits sent per row: 0 = all (dense), else the k largest plus the log-sum-exp.")).with_range(0, 262144);
  add(bind(RETORT_KEY(distill.tail), "Top-k tail: `bucket` keeps the missing mass as one extra category; `renormalize` drops it.")).with_choices({"bucket", "renormalize"});
  add(bind(RETORT_KEY(distill.wire_dtype), "Element type of teacher logits on the wire and in the cache.")).with_choices({"fp32", "bf16"});
  add(bind(RETORT_KEY(distill.lookahead), "How many steps a teacher may run ahead of each student (bounds memory).")).with_range(1, 1024).operational();
  add(bind(RETORT_KEY(distill.targets), "What the teacher sends per row or token: `dense` (all logits), `topk` (the distill.topk largest + the log-sum-exp, tail as one category) or `sampled` (language models: distill.samples ids drawn from the teacher's distribution, with counts and log-probabilities; an unbiased fkl estimate). `auto` = topk when distill.topk > 0, else dense.")).with_choices({"auto", "dense", "topk", "sampled"});
  add(bind(RETORT_KEY(distill.samples), "For targets `sampled`: draws per token n (stored as distinct ids with counts).")).with_range(1, 65535);
  add(bind(RETORT_KEY(distill.vocab_truncate), "Language models: a teacher whose head has more rows than the data's vocabulary (padded embeddings) is refused unless this is true; then only the first V rows are used."));
  add(bind(RETORT_KEY(distill.teacher_batch), "Rows per teacher forward pass when grouping several students' rows (0 = one forward per message); LM teachers: windows per forward within each message.")).with_range(0, 1 << 20).operational();
  // optim
  add(bind(RETORT_KEY(optim.name), "Optimizer.")).with_choices({"sgd", "adamw"});
  add(bind(RETORT_KEY(optim.lr), "Peak learning rate.")).with_range(0, 100).positive();
  add(bind(RETORT_KEY(optim.momentum), "SGD momentum.")).with_range(0, 1);
  add(bind(RETORT_KEY(optim.nesterov), "Nesterov momentum for SGD."));
  add(bind(RETORT_KEY(optim.weight_decay), "Decoupled weight decay (AdamW) / L2 term (SGD).")).with_range(0, 1);
  add(bind(RETORT_KEY(optim.beta1), "AdamW β1.")).with_range(0, 1);
  add(bind(RETORT_KEY(optim.beta2), "AdamW β2.")).with_range(0, 1);
  add(bind(RETORT_KEY(optim.eps), "AdamW ε.")).with_range(0, 1).positive();
  add(bind(RETORT_KEY(optim.clip_grad_norm), "Clip the global gradient norm to this value (0 = off).")).with_range(0, std::nullopt);
  // schedule
  add(bind(RETORT_KEY(schedule.name), "Learning-rate schedule after warmup.")).with_choices({"constant", "step", "cosine"});
  add(bind(RETORT_KEY(schedule.warmup_steps), "Linear warmup from 0 to optim.lr over this many steps.")).with_range(0, std::nullopt);
  add(bind(RETORT_KEY(schedule.step_size), "For `step`: multiply the rate by gamma every step_size steps.")).with_range(1, std::nullopt);
  add(bind(RETORT_KEY(schedule.gamma), "For `step`: decay factor.")).with_range(0, 1).positive();
  add(bind(RETORT_KEY(schedule.min_lr), "For `cosine`: the final learning rate.")).with_range(0, std::nullopt);
  // train
  add(bind(RETORT_KEY(train.batch_size), "Global batch size, split evenly across student ranks.")).with_range(1, 1 << 24);
  add(bind(RETORT_KEY(train.epochs), "Passes over the (possibly subsetted) training set.")).with_range(1, 100000);
  add(bind(RETORT_KEY(train.max_steps), "Stop after this many optimizer steps (0 = no limit).")).with_range(0, std::nullopt);
  add(bind(RETORT_KEY(train.eval_every_steps), "Evaluate on the test set every N steps (0 = only at the end).")).with_range(0, std::nullopt).operational();
  add(bind(RETORT_KEY(train.eval_batch_size), "Batch size of evaluation passes.")).with_range(1, 1 << 20).operational();
  add(bind(RETORT_KEY(train.checkpoint_every_steps), "Write a checkpoint every N steps (0 = only at the end).")).with_range(0, std::nullopt).operational();
  add(bind(RETORT_KEY(train.keep_checkpoints), "How many checkpoints to keep (oldest deleted first).")).with_range(1, 1000).operational();
  add(bind(RETORT_KEY(train.step_timeout_s), "Abort when a step makes no progress for this many seconds (watchdog).")).with_range(0, std::nullopt).positive().operational();
  add(bind(RETORT_KEY(train.log_every_steps), "Write a metrics.jsonl record and a progress line every N steps.")).with_range(1, std::nullopt).operational();
  add(bind(RETORT_KEY(train.head_chunk_mb), "Language models: memory budget (MiB) of one chunk of head logits; the head + loss runs chunk by chunk of tokens so no [tokens, vocab] tensor exists.")).with_range(0, 1 << 20).positive();
  add(bind(RETORT_KEY(train.nan_policy), "Non-finite teacher logits, loss or gradient: `skip` the step on all ranks, or `abort`.")).with_choices({"skip", "abort"});
  // comm
  add(bind(RETORT_KEY(comm.bucket_mb), "Gradient all-reduce bucket size in MB (0 = 16 on cpu, 25 on cuda).")).with_range(0, 4096);
  add(bind(RETORT_KEY(comm.grad_dtype), "Element type of gradients on the wire.")).with_choices({"fp32", "bf16"});
  // logging
  add(bind(RETORT_KEY(logging.level), "Least severe log level printed on stderr.")).with_choices({"debug", "info", "warn", "error"}).operational();
  add(bind(RETORT_KEY(logging.progress), "Progress line: `auto` redraws on a TTY and prints plain lines otherwise.")).with_choices({"auto", "always", "never"}).operational();
  // launch
  add(bind(RETORT_KEY(launch.via), "How `retort launch` starts ranks: `auto` = srun inside a Slurm allocation, else mpirun.")).with_choices({"auto", "mpirun", "srun"}).operational();
  add(bind(RETORT_KEY(launch.hostfile), "Hostfile passed to mpirun (empty = local machine or the allocation).")).operational();
  add(bind(RETORT_KEY(launch.mpirun_args), "Extra arguments appended to the mpirun command line.")).operational();
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string Field::type_name() const {
  switch (type) {
    case FieldType::integer: return "integer";
    case FieldType::number: return "number";
    case FieldType::boolean: return "bool";
    case FieldType::string: return "string";
    case FieldType::choice: return "choice";
    case FieldType::path: return "path";
    case FieldType::int_list: return "list of integers";
  }
  return "?";
}

std::string Field::bounds_text() const {
  const std::string lo = min ? fmt::format("{} {}", min_exclusive ? ">" : ">=", *min) : "";
  const std::string hi = max ? fmt::format("<= {}", *max) : "";
  return lo.empty() ? hi : hi.empty() ? lo : lo + " and " + hi;
}

std::string Field::check_range(double v) const {
  const bool low = min && (min_exclusive ? v <= *min : v < *min);
  const bool high = max && v > *max;
  return low || high ? "must be " + bounds_text() : "";
}

const std::vector<Field>& schema() {
  static const std::vector<Field> table = build_schema();
  return table;
}

const Field* find_field(const std::string& path) {
  for (const auto& f : schema())
    if (f.path == path) return &f;
  return nullptr;
}

bool is_section(const std::string& name) {
  for (const auto& f : schema())
    if (f.path.size() > name.size() && f.path.compare(0, name.size(), name) == 0 && f.path[name.size()] == '.')
      return true;
  return false;
}

std::string suggest_key(const std::string& path) {
  std::string best;
  size_t best_d = std::max<size_t>(3, path.size() / 2) + 1;
  const bool top_level = path.find('.') == std::string::npos;
  for (const auto& f : schema()) {
    const size_t dot = f.path.find('.');
    // A top-level name is compared with sections and top-level keys, a dotted one with full paths.
    const std::string candidate = top_level && dot != std::string::npos ? f.path.substr(0, dot) : f.path;
    const size_t d = edit_distance(path, candidate);
    if (d < best_d) best_d = d, best = candidate;
  }
  return best;
}

}  // namespace retort::core
