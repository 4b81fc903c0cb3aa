// dare/models/twin.hpp — TWIN: one embedding table serves search, attention and representation.
#pragma once

#include "dare/models/two_stage_model.hpp"

namespace dare {

/// TWIN (Chang et al., KDD 2023) with target-aware representation: one table of width Dim
/// per field for both the attention and the representation.
template <class Scalar, int Dim>
using Twin = TwoStageModel<Scalar, Dim, Dim, SharedTables>;

}  // namespace dare
