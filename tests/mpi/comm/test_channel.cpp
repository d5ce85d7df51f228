// Logits channel over real MPI ranks: bitwise round trips of every format for every T:S that
// fits the world, resume from a later first step, end-of-stream, the lookahead bound under slow
// students, corrupted messages and deadlines with their exact errors.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "comm/backends.h"
#include "comm/slot_transport.h"
#include "comm/world.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

// The logits a teacher sends for (student, step): kind and dtype cycle with the step, contents
// are seeded random bits so the student can regenerate and compare them bitwise.
struct Logits {
  PayloadKind kind;
  DType dtype;
  int64_t rows, vocab = 64, k = 0;
  std::vector<std::byte> values;
  std::vector<uint32_t> indices;
  std::vector<float> lse;

  Logits(int student, int64_t step) {
    std::mt19937_64 rng(static_cast<uint64_t>(step) * 1000003u + static_cast<uint64_t>(student));
    kind = step % 4 < 2 ? PayloadKind::dense : PayloadKind::topk;
    dtype = step % 2 ? DType::bf16 : DType::f32;
    rows = 1 + (step * 7 + student) % 6;
    k = kind == PayloadKind::topk ? 8 : 0;
    const int64_t n = rows * (k ? k : vocab);
    values.resize(static_cast<size_t>(n) * dtype_size(dtype));
    for (auto& b : values) b = static_cast<std::byte>(rng());
    if (k) {
      for (int64_t i = 0; i < n; ++i) indices.push_back(static_cast<uint32_t>(rng() % 64));
      for (int64_t r = 0; r < rows; ++r) lse.push_back(static_cast<float>(rng() % 1000) / 7.0f);
    }
  }
  LogitsPayload payload() const {
    return {kind, dtype, rows, vocab, k, values.data(), k ? indices.data() : nullptr, k ? lse.data() : nullptr};
  }
  bool same_as(const TeacherView& v) const {
    if (v.kind() != kind || v.dtype() != dtype || v.rows() != rows || v.vocab() != vocab || v.k() != k) return false;
    if (std::memcmp(v.values, values.data(), values.size()) != 0) return false;
    if (k && std::memcmp(v.indices, indices.data(), indices.size() * 4) != 0) return false;
    if (k && std::memcmp(v.lse, lse.data(), lse.size() * 4) != 0) return false;
    return true;
  }
};

RolesConfig roles_config(int t, int s, Placement p = Placement::node_local, int emulate = 0) {
  RolesConfig c;
  c.teachers = t;
  c.students = s;
  c.placement = p;
  c.emulate_nodes = emulate;
  return c;
}

// Every T:S split (and placement variant) exercised at this world size.
std::vector<RolesConfig> configs_for(int world) {
  switch (world) {
    case 2: return {roles_config(1, 1)};
    case 3: return {roles_config(1, 2), roles_config(2, 1)};
    case 4: return {roles_config(1, 3), roles_config(3, 1), roles_config(2, 2, Placement::node_local, 2),
                    roles_config(2, 2, Placement::round_robin)};
    default: return {roles_config(2, world - 2, Placement::node_local, 2), roles_config(world - 1, 1),
                     roles_config(1, world - 1)};
  }
}

ChannelConfig channel_config(int lookahead = 2) {
  ChannelConfig c;
  c.lookahead = lookahead;
  c.max_payload_bytes = 6 * 64 * 4;
  c.timeout_s = 20;
  return c;
}

// Runs `steps` steps from `first` through the channel; students compare every message.
void round_trip(const Roles& roles, ChannelConfig cc, int64_t first, int64_t steps) {
  const RoleTable& table = roles.table();
  cc.first_step = first;
  if (roles.is_teacher()) {
    auto channel = make_teacher_channel(roles, cc);
    for (int64_t step = first; step < first + steps; ++step)
      for (int s : table.students_of(roles.index()))
        if (table.teacher_for(s, step) == roles.index()) channel->send(s, step, Logits(s, step).payload());
    channel->finish();
    CHECK(channel->stats().in_flight == 0);
    CHECK(channel->stats().max_in_flight <= cc.lookahead);
  } else {
    auto channel = make_student_channel(roles, cc);
    for (int64_t step = first; step < first + steps; ++step) {
      const TeacherView v = channel->recv(step);
      REQUIRE(!v.end_of_stream());
      CHECK(Logits(roles.index(), step).same_as(v));
    }
    channel->close();
    CHECK(channel->stats().messages == steps);
  }
}

std::string runtime_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "no error";
}

}  // namespace

TEST_CASE("channel: every format round-trips bitwise for every T:S", "[channel]") {
  World world(nullptr, nullptr);
  for (const RolesConfig& config : configs_for(world.size())) {
    Roles roles(world, config);
    for (int lookahead : {1, 3}) round_trip(roles, channel_config(lookahead), 0, 13);
    round_trip(roles, channel_config(2), 1000, 7);  // resumed run: first step 1000
  }
}

TEST_CASE("channel: a student asking past the last step gets end-of-stream", "[channel]") {
  World world(nullptr, nullptr);
  Roles roles(world, roles_config(1, world.size() - 1));
  if (roles.is_teacher()) {
    auto channel = make_teacher_channel(roles, channel_config());
    for (int64_t step = 0; step < 3; ++step)
      for (int s : roles.table().students_of(0)) channel->send(s, step, Logits(s, step).payload());
    channel->finish();
  } else {
    auto channel = make_student_channel(roles, channel_config());
    for (int64_t step = 0; step < 3; ++step) CHECK(Logits(roles.index(), step).same_as(channel->recv(step)));
    const TeacherView end = channel->recv(3);
    CHECK(end.end_of_stream());
    CHECK(end.header.step == 3);
    channel->close();
  }
}

TEST_CASE("channel: a slow student never lets a teacher run more than lookahead ahead", "[channel]") {
  World world(nullptr, nullptr);
  Roles roles(world, roles_config(1, world.size() - 1));
  for (int lookahead : {1, 3}) {
    const ChannelConfig cc = channel_config(lookahead);
    const int steps = 8;
    if (roles.is_teacher()) {
      auto channel = make_teacher_channel(roles, cc);
      for (int64_t step = 0; step < steps; ++step)
        for (int s : roles.table().students_of(0)) {
          channel->send(s, step, Logits(s, step).payload());
          const ChannelStats st = channel->stats();
          CHECK(st.max_in_flight <= lookahead);
          CHECK(st.in_flight <= lookahead * roles.table().students());
        }
      channel->finish();
      const ChannelStats st = channel->stats();
      CHECK(st.max_in_flight == lookahead);  // the teacher did run ahead, up to the bound
      CHECK(st.wait_seconds > 0.05);         // and was held back by credits
    } else {
      auto channel = make_student_channel(roles, cc);
      for (int64_t step = 0; step < steps; ++step) {
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
        channel->progress();
        CHECK(channel->stats().in_flight <= lookahead);
        CHECK(Logits(roles.index(), step).same_as(channel->recv(step)));
      }
      channel->close();
      CHECK(channel->stats().max_in_flight == lookahead);  // the queue did fill up to the bound
    }
  }
}

TEST_CASE("channel: corrupted messages are rejected naming the teacher rank and step", "[channel]") {
  World world(nullptr, nullptr);
  struct Case {
    const char* name;
    std::function<void(std::vector<std::byte>&)> corrupt;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"flipped payload byte", [](std::vector<std::byte>& m) { m[sizeof(WireHeader) + 5] ^= std::byte{1}; },
       "payload checksum mismatch"},
      {"wrong version",
       [](std::vector<std::byte>& m) {
         const uint16_t v = 7;
         std::memcpy(m.data() + 4, &v, 2);
       },
       "logits message from rank 0 for step 0: wire version 7, expected 2"},
      {"wrong step", [](std::vector<std::byte>& m) { m = encode(Logits(0, 1).payload(), 1, 0); },
       "logits message from rank 0 for step 0: step 1, expected step 0"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Roles roles(world, roles_config(1, world.size() - 1));  // fresh pair communicators per case
    if (roles.is_teacher()) {
      std::vector<std::byte> message = encode(Logits(0, 0).payload(), 0, 0);
      c.corrupt(message);
      REQUIRE(MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, 1, kTagData, roles.pair(0, 0)) ==
              MPI_SUCCESS);
    } else if (roles.index() == 0) {
      auto channel = make_student_channel(roles, channel_config());
      const std::string error = runtime_error_of([&] { channel->recv(0); });
      if (c.expected.find("logits message") == 0) CHECK(error == c.expected);
      else CHECK(error.find("logits message from rank 0 for step 0: " + c.expected) == 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

TEST_CASE("channel: every blocking wait has a deadline naming the peer and step", "[channel]") {
  World world(nullptr, nullptr);
  Roles roles(world, roles_config(1, world.size() - 1));
  ChannelConfig cc = channel_config(1);
  cc.timeout_s = 0.3;
  // A student whose teacher sends nothing.
  if (roles.is_student() && roles.index() == 0) {
    auto channel = make_student_channel(roles, cc);
    CHECK(runtime_error_of([&] { channel->recv(0); }) ==
          "logits channel: student rank 1 waited for the logits message from teacher rank 0 at step 0 "
          "(no progress within 0.3 s)");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // A teacher whose student consumes nothing: with lookahead 1 the second send must time out.
  Roles fresh(world, roles_config(1, world.size() - 1));
  const Logits small(0, 0);
  if (fresh.is_teacher()) {
    auto channel = make_teacher_channel(fresh, cc);
    channel->send(0, 0, small.payload());
    CHECK(runtime_error_of([&] { channel->send(0, 1, small.payload()); }) ==
          "logits channel: teacher rank 0 waited for a credit (the student consuming a message) from student rank 1 "
          "at step 1 (no progress within 0.3 s)");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (fresh.is_student() && fresh.index() == 0) {  // take the one message so nothing is left pending
    std::vector<std::byte> buffer(4096);
    MPI_Status status;
    REQUIRE(MPI_Recv(buffer.data(), 4096, MPI_BYTE, 0, kTagData, fresh.pair(0, 0), &status) == MPI_SUCCESS);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST_CASE("channel: misuse is reported", "[channel]") {
  World world(nullptr, nullptr);
  Roles roles(world, roles_config(1, world.size() - 1));
  if (roles.is_teacher()) {
    auto channel = make_teacher_channel(roles, channel_config());
    CHECK(runtime_error_of([&] { channel->send(roles.table().students(), 0, Logits(0, 0).payload()); }) ==
          "teacher 0 (rank 0) does not serve student " + std::to_string(roles.table().students()));
    ChannelConfig tiny = channel_config();
    tiny.max_payload_bytes = 8;
    auto small = make_teacher_channel(roles, tiny);
    CHECK_THROWS_AS(small->send(0, 0, Logits(0, 0).payload()), Error);
    channel->finish();
  } else {
    auto channel = make_student_channel(roles, channel_config());
    CHECK(runtime_error_of([&] { channel->recv(5); }) ==
          "student " + std::to_string(roles.index()) + " asked for step 5 but the next step is 0");
    channel->close();  // drains the teacher's end-of-stream
  }
  ChannelConfig bad = channel_config();
  bad.lookahead = 0;
  if (roles.is_student()) CHECK_THROWS_AS(make_student_channel(roles, bad), Error);
}
