// dare/models/embedding_layout.hpp — which embedding tables a sequence model has and which
// table serves each use of an id: the Embedding policy of SequenceModel.
//
// Design. A model embeds every id in four roles: the attention of the target (the search
// query), the attention of the history (the search keys), the representation of the target
// (v) and the representation of the history (the values aggregated into u). A layout is
// data, not code: a number of attention table sets (width A) and representation table sets
// (width R), each holding one table per field (item, category, time), and for every role the
// set it reads. Gradients follow the same map, so a layout with separate sets keeps the
// gradients of one role away from the others by construction. The model does the gathering,
// the gradients and the optimizer steps for any layout (docs/design.md §3).
//
// | layout           | attention sets | representation sets | roles                                  |
// |------------------|----------------|---------------------|----------------------------------------|
// | Shared<D>        | 1              | 0 (uses attention)  | all four read the one set (TWIN)       |
// | Decoupled<A, R>  | 1              | 1                   | attention roles the attention set,     |
// |                  |                |                     | representation roles the other (DARE)  |
// | FourTables<A, R> | 2              | 2                   | each role its own set (TWIN-4E)        |
// | Projected<D>     | 1              | 0 (uses attention)  | all read the one set, then a per-role, |
// |                  |                |                     | per-field bias-free linear map (w/ proj.) |
//
// Projected follows what the public reference runs for its "TWIN (w/ proj.)" row: its
// `-model_name projection` with `-mlp_position_after_concat` given, which (the flag is
// store_false) selects twelve bias-free D x D maps, one per role and field, applied to the
// rows of the one shared table before they are concatenated.
#pragma once

#include <array>

#include "dare/core/config.hpp"

namespace dare {

/// The four uses of an embedding (see the header note).
enum class Role : int { AttentionTarget = 0, AttentionHistory = 1, ReprTarget = 2, ReprHistory = 3 };
inline constexpr std::array<Role, 4> kRoles = {Role::AttentionTarget, Role::AttentionHistory, Role::ReprTarget,
                                               Role::ReprHistory};
constexpr bool is_attention(Role r) noexcept { return r == Role::AttentionTarget || r == Role::AttentionHistory; }
constexpr const char* to_string(Role r) noexcept {
  switch (r) {
    case Role::AttentionTarget: return "attention.target";
    case Role::AttentionHistory: return "attention.history";
    case Role::ReprTarget: return "representation.target";
    case Role::ReprHistory: return "representation.history";
  }
  return "?";
}

/// The fields of a behaviour, in the order their embeddings are concatenated.
enum Field : int { kItem = 0, kCategory = 1, kTime = 2 };
constexpr const char* field_name(int f) noexcept { return f == kItem ? "item" : f == kCategory ? "category" : "time"; }

/// TWIN: one table set serves every role, so A == R == D.
template <int D>
struct Shared {
  static constexpr int kAttDim = D, kReprDim = D;
  static constexpr int kAttSets = 1, kReprSets = 0;
  static constexpr std::array<int, 4> kSetOf = {0, 0, 0, 0};
  static constexpr bool kProjected = false;
  static constexpr std::uint32_t kId = 1;
  static constexpr const char* kName = "shared";
  template <int A2, int R2>
  using with_dims = Shared<A2>;  ///< the same layout at other widths (R2 must equal A2)
  static constexpr std::array<const char*, 1> kAttSetNames = {"shared"};
  static constexpr std::array<const char*, 1> kReprSetNames = {""};
};

/// DARE: attention tables (width A) and representation tables (width R).
template <int A, int R>
struct Decoupled {
  static constexpr int kAttDim = A, kReprDim = R;
  static constexpr int kAttSets = 1, kReprSets = 1;
  static constexpr std::array<int, 4> kSetOf = {0, 0, 0, 0};
  static constexpr bool kProjected = false;
  static constexpr std::uint32_t kId = 2;
  static constexpr const char* kName = "decoupled";
  template <int A2, int R2>
  using with_dims = Decoupled<A2, R2>;
  static constexpr std::array<const char*, 1> kAttSetNames = {"attention"};
  static constexpr std::array<const char*, 1> kReprSetNames = {"representation"};
};

/// TWIN-4E: attention and representation, each with separate target and history tables.
template <int A, int R>
struct FourTables {
  static constexpr int kAttDim = A, kReprDim = R;
  static constexpr int kAttSets = 2, kReprSets = 2;
  static constexpr std::array<int, 4> kSetOf = {0, 1, 0, 1};
  static constexpr bool kProjected = false;
  static constexpr std::uint32_t kId = 3;
  static constexpr const char* kName = "four-tables";
  template <int A2, int R2>
  using with_dims = FourTables<A2, R2>;
  static constexpr std::array<const char*, 2> kAttSetNames = {"attention.target", "attention.history"};
  static constexpr std::array<const char*, 2> kReprSetNames = {"representation.target", "representation.history"};
};

/// TWIN (w/ proj.): one shared table set and a bias-free D x D map per role and field.
template <int D>
struct Projected {
  static constexpr int kAttDim = D, kReprDim = D;
  static constexpr int kAttSets = 1, kReprSets = 0;
  static constexpr std::array<int, 4> kSetOf = {0, 0, 0, 0};
  static constexpr bool kProjected = true;
  static constexpr std::uint32_t kId = 4;
  static constexpr const char* kName = "projected";
  template <int A2, int R2>
  using with_dims = Projected<A2>;
  static constexpr std::array<const char*, 1> kAttSetNames = {"shared"};
  static constexpr std::array<const char*, 1> kReprSetNames = {""};
};

}  // namespace dare
