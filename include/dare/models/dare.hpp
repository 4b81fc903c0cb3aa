// dare/models/dare.hpp — DARE: decoupled attention and representation embeddings.
#pragma once

#include "dare/models/two_stage_model.hpp"

namespace dare {

/// DARE (Feng et al., ICLR 2025): separate attention (AttDim per field) and representation
/// (ReprDim per field) tables; the search cost is O(L · AttDim), so AttDim may be narrower.
template <class Scalar, int AttDim, int ReprDim>
using Dare = TwoStageModel<Scalar, AttDim, ReprDim, DecoupledTables>;

}  // namespace dare
