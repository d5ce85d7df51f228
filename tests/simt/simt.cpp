// The SIMT emulator's scheduler: ucontext fibers (one per CUDA thread of a block), a block
// barrier, warp barriers and the per-warp exchange behind shuffles and votes.
#include "tests/simt/simt.h"

#include <ucontext.h>

#include <bit>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace retort::simt {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr unsigned kMaxThreads = 1024;

enum class State : uint8_t { runnable, at_block_barrier, at_warp_barrier, done };

struct Fiber {
  ucontext_t context;
  State state = State::runnable;
  uint3 tid;
};

struct Warp {
  unsigned alive = 0;     // lanes whose thread has not returned
  unsigned required = 0;  // lanes the pending warp barrier waits for
  unsigned arrived = 0;   // lanes waiting at the pending warp barrier
  uint64_t slot[32] = {};
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  ucontext_t scheduler;
  unsigned current = 0;
  unsigned alive = 0;
  unsigned at_barrier = 0;
  const std::function<void()>* body = nullptr;
  std::exception_ptr error;
};

struct Arena {
  std::unique_ptr<char[]> stacks;
  size_t stack_threads = 0;
  std::unique_ptr<unsigned char[]> smem;
  size_t smem_bytes = 0;
  unsigned char* smem_aligned = nullptr;
};

thread_local Block* g_block = nullptr;
thread_local Arena g_arena;

Block& block() {
  if (!g_block) RETORT_RUNTIME_ERROR("simt: a device built-in was called outside simt::launch");
  return *g_block;
}

void release_warp_if_complete(Warp& w, unsigned warp_index) {
  Block& b = *g_block;
  if (w.arrived == 0 || (w.arrived & w.required) != w.required) return;
  for (unsigned lane = 0; lane < 32; ++lane) {
    const unsigned t = warp_index * 32 + lane;
    if ((w.arrived >> lane & 1u) && t < b.fibers.size() && b.fibers[t].state == State::at_warp_barrier)
      b.fibers[t].state = State::runnable;
  }
  w.arrived = 0;
}

void release_block_if_complete() {
  Block& b = *g_block;
  if (b.at_barrier == 0 || b.at_barrier != b.alive) return;
  for (Fiber& f : b.fibers)
    if (f.state == State::at_block_barrier) f.state = State::runnable;
  b.at_barrier = 0;
}

void yield_to_scheduler() {
  Block& b = *g_block;
  swapcontext(&b.fibers[b.current].context, &b.scheduler);
}

void fiber_entry() {
  Block& b = *g_block;
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  const unsigned t = b.current;
  b.fibers[t].state = State::done;
  --b.alive;
  Warp& w = b.warps[t / 32];
  w.alive &= ~(1u << (t % 32));
  w.required &= w.alive;
  release_warp_if_complete(w, t / 32);
  release_block_if_complete();
  // Returning resumes uc_link, the scheduler.
}

void ensure_arena(unsigned threads, size_t smem_bytes) {
  if (g_arena.stack_threads < threads) {
    g_arena.stacks = std::make_unique<char[]>(kStackBytes * threads);
    g_arena.stack_threads = threads;
  }
  if (g_arena.smem_bytes < smem_bytes || !g_arena.smem) {
    g_arena.smem = std::make_unique<unsigned char[]>(smem_bytes + 16);
    g_arena.smem_bytes = smem_bytes;
    auto addr = reinterpret_cast<uintptr_t>(g_arena.smem.get());
    g_arena.smem_aligned = g_arena.smem.get() + ((16 - addr % 16) % 16);
  }
}

void run_block(Block& b, unsigned threads) {
  b.alive = threads;
  b.at_barrier = 0;
  b.error = nullptr;
  for (unsigned w = 0; w < b.warps.size(); ++w) {
    const unsigned lanes = std::min(32u, threads - w * 32);
    b.warps[w] = Warp{};
    b.warps[w].alive = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
  }
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = b.fibers[t];
    f.state = State::runnable;
    f.tid = uint3{t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = g_arena.stacks.get() + static_cast<size_t>(t) * kStackBytes;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiber_entry, 0);
  }
  while (b.alive > 0) {
    bool ran = false;
    for (unsigned t = 0; t < threads; ++t) {
      if (b.fibers[t].state != State::runnable) continue;
      b.current = t;
      threadIdx = b.fibers[t].tid;
      swapcontext(&b.scheduler, &b.fibers[t].context);
      ran = true;
    }
    if (!ran && b.alive > 0) {
      RETORT_RUNTIME_ERROR("simt: deadlock in block (" + std::to_string(blockIdx.x) + "," +
                           std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) + "): " +
                           std::to_string(b.alive) + " threads wait at barriers that cannot complete");
    }
  }
  if (b.error) std::rethrow_exception(b.error);
}

}  // namespace

void run_grid(dim3 grid, dim3 block_dim, size_t dynamic_smem_bytes, const std::function<void()>& block_body) {
  if (g_block) RETORT_RUNTIME_ERROR("simt: launch from inside a kernel is not supported");
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  if (threads == 0 || threads > kMaxThreads)
    RETORT_RUNTIME_ERROR("simt: blockDim has " + std::to_string(threads) + " threads (1..1024 allowed)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) RETORT_RUNTIME_ERROR("simt: empty grid");
  ensure_arena(threads, dynamic_smem_bytes);
  Block b;
  b.fibers.resize(threads);
  b.warps.resize((threads + 31) / 32);
  b.body = &block_body;
  blockDim = block_dim;
  gridDim = grid;
  g_block = &b;
  try {
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = uint3{x, y, z};
          run_block(b, threads);
        }
  } catch (...) {
    g_block = nullptr;
    throw;
  }
  g_block = nullptr;
}

void* dynamic_smem() {
  block();
  return g_arena.smem_aligned;
}

unsigned linear_tid() { return block().current; }

void sync_block() {
  Block& b = block();
  ++b.at_barrier;
  b.fibers[b.current].state = State::at_block_barrier;
  release_block_if_complete();
  if (b.fibers[b.current].state == State::at_block_barrier) yield_to_scheduler();
}

void sync_warp(unsigned mask) {
  Block& b = block();
  const unsigned t = b.current;
  Warp& w = b.warps[t / 32];
  w.required = mask & w.alive;
  w.arrived |= 1u << (t % 32);
  b.fibers[t].state = State::at_warp_barrier;
  release_warp_if_complete(w, t / 32);
  if (b.fibers[t].state == State::at_warp_barrier) yield_to_scheduler();
}

uint64_t warp_exchange(unsigned mask, uint64_t value, int src) {
  Block& b = block();
  const unsigned t = b.current;
  Warp& w = b.warps[t / 32];
  w.slot[t % 32] = value;
  sync_warp(mask);
  uint64_t out = value;
  if (src >= 0 && src < 32 && ((mask & w.alive) >> src & 1u)) out = w.slot[src];
  sync_warp(mask);
  return out;
}

unsigned warp_ballot(unsigned mask, int predicate) {
  Block& b = block();
  const unsigned t = b.current;
  Warp& w = b.warps[t / 32];
  w.slot[t % 32] = predicate != 0;
  sync_warp(mask);
  unsigned bits = 0;
  for (unsigned lane = 0; lane < 32; ++lane)
    if (((mask & w.alive) >> lane & 1u) && w.slot[lane]) bits |= 1u << lane;
  sync_warp(mask);
  return bits;
}

}  // namespace retort::simt
