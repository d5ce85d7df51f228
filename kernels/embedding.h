// Token embedding lookup and its backward (scatter-add into the table), for the transformer.
// Batch-invariant by construction: each output row depends only on its own token, and each table
// row of the gradient sums its contributions in increasing token index whatever the thread count.
#pragma once
#include <cstdint>

namespace retort::kernels {

// tokens[n] in [0, vocab), table[vocab, dim] -> out[n, dim] = table[tokens[i], :] (overwritten).
// An id outside [0, vocab) is an input error naming the id and its position.
void embedding_forward(const int32_t* tokens, int64_t n, const float* table, int64_t vocab,
                       int64_t dim, float* out);

// dtable[vocab, dim] += Σ_{i: tokens[i] = t} dout[i, :], each row t summed in increasing i
// (deterministic, independent of the thread count). Ids are checked as in the forward.
void embedding_backward(const int32_t* tokens, int64_t n, const float* dout, int64_t vocab,
                        int64_t dim, float* dtable);

}  // namespace retort::kernels
