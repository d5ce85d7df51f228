// comm::Group on a live world: broadcasts, the float64 sum, gathers of byte strings of unequal
// lengths, one-int64 messages with a tag (blocking send, polled receive, from any rank),
// node-local ranks.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "comm/collectives.h"
#include "comm/world.h"

using namespace retort::comm;

namespace {
// Rank r's gather text: r copies of a letter, so rank 0 sends nothing and lengths differ.
std::string text_of(int rank) { return std::string(static_cast<size_t>(rank), static_cast<char>('a' + rank % 26)); }
}  // namespace

TEST_CASE("collectives: broadcast, sum, gather, barrier over the world", "[collectives]") {
  World world(nullptr, nullptr);
  const Group group(world.comm());
  const int n = group.size(), me = group.rank();
  CHECK(n == world.size());
  CHECK(me == world.rank());
  CHECK(group.node_local_rank() == world.local_rank());  // one machine: the world rank

  for (int root = 0; root < n; ++root) {
    int64_t value = me == root ? 1'000'000'007LL * (root + 1) : -1;
    group.broadcast(value, root);
    CHECK(value == 1'000'000'007LL * (root + 1));
    double values[3] = {me == root ? 0.5 : 0.0, me == root ? -2.25 : 0.0, me == root ? 1e300 : 0.0};
    group.broadcast(values, 3, root);
    CHECK(values[0] == 0.5);
    CHECK(values[1] == -2.25);
    CHECK(values[2] == 1e300);

    const std::vector<std::string> all = group.gather(text_of(me), root);
    if (me == root) {
      REQUIRE(all.size() == static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) CHECK(all[static_cast<size_t>(r)] == text_of(r));
    } else {
      CHECK(all.empty());
    }
  }

  double sums[2] = {static_cast<double>(me), 0.25};
  group.sum(sums, 2);
  CHECK(sums[0] == n * (n - 1) / 2.0);  // small integers: exact in any order
  CHECK(sums[1] == 0.25 * n);
  group.barrier();
}

TEST_CASE("collectives: one int64 with a tag, polled until it arrives", "[collectives]") {
  World world(nullptr, nullptr);
  const Group group(world.comm());
  const int n = group.size(), me = group.rank();
  constexpr int tag = 0x51;
  if (me == 0) {
    // Rank 0 hears from every other rank; a receive with another tag must not match.
    Int64Receive other_tag(group, 1, tag + 1);
    for (int peer = 1; peer < n; ++peer) {
      Int64Receive receive(group, peer, tag);
      const auto t0 = std::chrono::steady_clock::now();
      std::optional<int64_t> got;
      while (!(got = receive.poll())) {
        REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      CHECK(*got == -7 * int64_t{peer} - (int64_t{1} << 40));
      CHECK(receive.poll() == got);  // stays arrived
    }
    CHECK_FALSE(other_tag.poll().has_value());  // cancelled when it goes out of scope
  } else {
    group.send(-7 * int64_t{me} - (int64_t{1} << 40), 0, tag);
  }
  group.barrier();
}

TEST_CASE("collectives: one int64 from any rank, polled; other tags left alone", "[collectives]") {
  World world(nullptr, nullptr);
  const Group group(world.comm());
  const int n = group.size(), me = group.rank();
  CHECK(mpi_running());
  constexpr int tag = 0x52, other = 0x53;
  if (me == 0) {
    std::vector<int64_t> got(static_cast<size_t>(n), 0);
    const auto t0 = std::chrono::steady_clock::now();
    for (int heard = 0; heard < n - 1;) {
      REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
      if (const auto message = group.receive_any(tag)) {
        const auto [from, value] = *message;
        REQUIRE(from > 0);
        REQUIRE(from < n);
        CHECK(got[static_cast<size_t>(from)] == 0);  // each rank's message exactly once
        got[static_cast<size_t>(from)] = value;
        ++heard;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    for (int r = 1; r < n; ++r) CHECK(got[static_cast<size_t>(r)] == 1000 + r);
    CHECK_FALSE(group.receive_any(tag).has_value());  // nothing more with this tag
    for (int r = 1; r < n; ++r) {  // the other tag's messages are still there, one per rank
      Int64Receive receive(group, r, other);
      const auto t1 = std::chrono::steady_clock::now();
      while (!receive.poll()) REQUIRE(std::chrono::steady_clock::now() - t1 < std::chrono::seconds(30));
      CHECK(*receive.poll() == -r);
    }
  } else {
    group.send(-me, 0, other);  // sent first, so receive_any(tag) must skip it
    group.send(1000 + me, 0, tag);
  }
  group.barrier();
}
