// dare/models/zoo.hpp — the models of the DARE paper's Table 1 as SequenceModel policies.
//
// | alias            | embedding layout   | selector    | scorer                      | head input |
// |------------------|--------------------|-------------|-----------------------------|------------|
// | Dare<S, A, R>    | Decoupled<A, R>    | TopKSearch  | DotScorer<SplitScale>       | [v, u, v⊙u] |
// | Twin<S, D>       | Shared<D>          | TopKSearch  | DotScorer<SplitScale>       | [v, u, v⊙u] |
// | TwinHard<S, D>   | Shared<D>          | HardSearch  | DotScorer<HardSearchScale>  | [v, u, v⊙u] |
// | TwinProj<S, D>   | Projected<D>       | TopKSearch  | DotScorer<SplitScale>       | [v, u, v⊙u] |
// | TwinNoTR<S, D>   | Shared<D>          | TopKSearch  | DotScorer<SplitScale>       | [v, u]      |
// | Twin4E<S, A, R>  | FourTables<A, R>   | TopKSearch  | DotScorer<SplitScale>       | [v, u, v⊙u] |
// | Din<S, D>        | Shared<D>, no time | TopKSearch  | MlpScorer                   | [v, u, v⊙u] |
// | Eta<S, D>        | Shared<D>          | HammingSearch | DotScorer<SplitScale>     | [v, u, v⊙u] |
// | Sdim<S, D>       | Shared<D>          | HashSampling  | DotScorer<SplitScale>     | [v, u, v⊙u] |
// | TwinV2<S, D>     | Shared<D>          | ClusterSearch | DotScorer<SplitScale>     | [v, u, v⊙u] |
//
// Each row is what the public reference's scripts/taobao.sh runs for that row of Table 1
// (docs/design.md §3 lists the flags and what they select). TwinNoTR is Twin with
// ModelConfig::target_aware off, which its constructor sets; any other model can drop the
// feature the same way. ETA, SDIM and TWIN-V2 have no public code in the DARE release; they are built
// on TWIN's settings (one table, the same heads, the auxiliary head over all positions), with
// the retrieval of their papers (selectors.hpp; docs/design.md §3).
#pragma once

#include "dare/models/sequence_model.hpp"

namespace dare {

/// DARE (Feng et al., ICLR 2025): separate attention (AttDim per field) and representation
/// (ReprDim per field) tables; the search cost is O(L · AttDim), so AttDim may be narrower.
template <class Scalar, int AttDim, int ReprDim>
using Dare = SequenceModel<Scalar, Decoupled<AttDim, ReprDim>, TopKSearch, DotScorer<SplitScale>>;

/// TWIN (Chang et al., KDD 2023): one table serves the search and the representation.
template <class Scalar, int Dim>
using Twin = SequenceModel<Scalar, Shared<Dim>, TopKSearch, DotScorer<SplitScale>>;

/// TWIN with the hard search: the target's category instead of scores (see selectors.hpp).
template <class Scalar, int Dim>
using TwinHard = SequenceModel<Scalar, Shared<Dim>, HardSearch, DotScorer<HardSearchScale>>;

/// TWIN with per-role linear projections of the one table (see embedding_layout.hpp).
template <class Scalar, int Dim>
using TwinProj = SequenceModel<Scalar, Projected<Dim>, TopKSearch, DotScorer<SplitScale>>;

/// TWIN with four tables: attention and representation, each for targets and histories.
template <class Scalar, int AttDim, int ReprDim>
using Twin4E = SequenceModel<Scalar, FourTables<AttDim, ReprDim>, TopKSearch, DotScorer<SplitScale>>;

/// DIN's attention unit with the soft search's top K (as the reference runs it).
template <class Scalar, int Dim>
using Din = SequenceModel<Scalar, Shared<Dim>, TopKSearch, MlpScorer>;

/// ETA (Chen et al. 2021): the top K by the Hamming distance of SimHash signatures.
template <class Scalar, int Dim>
using Eta = SequenceModel<Scalar, Shared<Dim>, HammingSearch, DotScorer<SplitScale>>;

/// SDIM (Cao et al. 2022): the behaviours sharing the target's hash bucket, summed per round.
template <class Scalar, int Dim>
using Sdim = SequenceModel<Scalar, Shared<Dim>, HashSampling, DotScorer<SplitScale>>;

/// TWIN-V2 (Si et al. 2024): the top K of the history's clusters (SequenceBatch::hist_group),
/// each the mean of its members, its logit offset by ln(size).
template <class Scalar, int Dim>
using TwinV2 = SequenceModel<Scalar, Shared<Dim>, ClusterSearch, DotScorer<SplitScale>>;

/// TWIN without the target-aware feature: head input [v, u], auxiliary [v, u_all].
template <class Scalar, int Dim>
class TwinNoTR : public Twin<Scalar, Dim> {
 public:
  explicit TwinNoTR(ModelConfig config) : Twin<Scalar, Dim>(without_tr(std::move(config))) {}

 private:
  static ModelConfig without_tr(ModelConfig c) {
    c.target_aware = false;
    return c;
  }
};

}  // namespace dare
