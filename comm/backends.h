// The backend factories: the transport (MPI host buffers, NCCL device buffers) is chosen once,
// when the job starts; everything above uses the interfaces of comm/channel.h and comm/reducer.h.
#pragma once
#include <memory>

#include "comm/channel.h"
#include "comm/collectives.h"
#include "comm/reducer.h"
#include "comm/roles.h"
#include "comm/transport.h"

namespace retort::comm {

// The logits channel of this rank over config.transport (nccl needs a CUDA build and is
// collective over the world); the Roles object must outlive the channel. Input error on an
// invalid config.
std::unique_ptr<TeacherChannel> make_teacher_channel(const Roles& roles, const ChannelConfig& config);
std::unique_ptr<StudentChannel> make_student_channel(const Roles& roles, const ChannelConfig& config);

// The reducer averaging `grads[0, count)` over the ranks of `ranks` (collective over them):
// MPI — a communication thread runs one blocking ring all-reduce per bucket, the average fused
// into it, on a duplicate of the communicator (needs MPI_THREAD_MULTIPLE; deterministic: the
// same inputs and rank count give bitwise-identical results) over a host buffer; NCCL — over a
// device buffer, on an NCCL communicator made from the group (CUDA builds only).
std::unique_ptr<GradReducer> make_reducer(Group ranks, Transport transport, float* grads, size_t count,
                                          const ReducerConfig& config);
// The students' reducer of this job (over roles.students()); call on student ranks only.
std::unique_ptr<GradReducer> make_reducer(const Roles& roles, Transport transport, float* grads, size_t count,
                                          const ReducerConfig& config);

}  // namespace retort::comm
