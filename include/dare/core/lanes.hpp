// dare/core/lanes.hpp — element-wise loops written once for one scalar and one SIMD batch.
//
// An element-wise rule (an optimizer's update, a PReLU, a BatchNorm's normalisation) is a
// generic lambda `body(lanes, i)` over a "lane" type, `typename decltype(lanes)::type`,
// that is either the Scalar or an xsimd batch of it: `load_lanes`, `store_lanes`,
// `lane_select` and the arithmetic operators read the same on both. `for_each_lane` runs the
// body over whole batches and then over the scalar tail; `for_each_lane_scalar` runs it one
// element at a time, the reference the tests compare against. The same expression on a
// batch rounds each lane as the scalar form rounds it, with one exception: GCC may fuse a
// multiply and an add into one FMA (its default -ffp-contract=fast) in one form and not in
// the other, as the code around them decides. So the two forms give the same bits where
// nothing can be fused (selects, copies, sums) or on a target without FMA, and may differ in
// the last bit of a fused operation otherwise (docs/design.md §5).
#pragma once

#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"

namespace dare::detail {

/// Tag naming the lane type of one call of a lane body: a Scalar or an xsimd batch.
template <class T>
struct Lanes {
  using type = T;
};

template <class Scalar>
inline Scalar load_lanes(Lanes<Scalar>, const Scalar* p) noexcept {
  return *p;
}
template <class Scalar, class Arch>
inline xsimd::batch<Scalar, Arch> load_lanes(Lanes<xsimd::batch<Scalar, Arch>>,
                                             const Scalar* p) noexcept {
  return xsimd::batch<Scalar, Arch>::load_unaligned(p);
}
template <class Scalar>
inline void store_lanes(Scalar x, Scalar* p) noexcept {
  *p = x;
}
template <class Scalar, class Arch>
inline void store_lanes(const xsimd::batch<Scalar, Arch>& x, Scalar* p) noexcept {
  x.store_unaligned(p);
}

/// `condition ? a : b` per lane: a bool for a scalar, a batch_bool for a batch.
template <class Scalar>
inline Scalar lane_select(bool condition, Scalar a, Scalar b) noexcept {
  return condition ? a : b;
}
template <class Scalar, class Arch>
inline xsimd::batch<Scalar, Arch> lane_select(const xsimd::batch_bool<Scalar, Arch>& condition,
                                              const xsimd::batch<Scalar, Arch>& a,
                                              const xsimd::batch<Scalar, Arch>& b) noexcept {
  return xsimd::select(condition, a, b);
}

/// Calls `body(Lanes<xsimd::batch<Scalar, Arch>>{}, i)` for i = 0, W, 2W, ... while a whole
/// batch fits in [0, n), then `body(Lanes<Scalar>{}, i)` for the remaining tail.
template <class Arch, class Scalar, class Body>
inline void for_each_lane(Index n, Body&& body) {
  using Batch = xsimd::batch<Scalar, Arch>;
  constexpr Index width = static_cast<Index>(Batch::size);
  const Index full = n - n % width;
  for (Index i = 0; i < full; i += width) body(Lanes<Batch>{}, i);
  // The tail is shorter than one batch; counting it in an int tells the compiler so.
  const int tail = static_cast<int>(n - full);
  for (int j = 0; j < tail; ++j) body(Lanes<Scalar>{}, full + j);
}

/// The scalar reference of for_each_lane: the same body, one element at a time.
template <class Scalar, class Body>
inline void for_each_lane_scalar(Index n, Body&& body) {
  for (Index i = 0; i < n; ++i) body(Lanes<Scalar>{}, i);
}

/// dst[0, n) += src[0, n) on Arch's lanes (the two may overlap only exactly).
template <class Arch = xsimd::default_arch, class Scalar>
inline void add_lanes(Scalar* dst, const Scalar* src, Index n) noexcept {
  for_each_lane<Arch, Scalar>(n, [&](auto lanes, Index i) {
    store_lanes(load_lanes(lanes, dst + i) + load_lanes(lanes, src + i), dst + i);
  });
}

/// dst[0, n) = src[0, n) on Arch's lanes (the two must not overlap): for rows of a few hundred
/// bytes at a run-time length, where a call to memcpy costs more than the copy.
template <class Arch = xsimd::default_arch, class Scalar>
inline void copy_lanes(Scalar* dst, const Scalar* src, Index n) noexcept {
  for_each_lane<Arch, Scalar>(n, [&](auto lanes, Index i) { store_lanes(load_lanes(lanes, src + i), dst + i); });
}

/// dst[0, n) += scale · src[0, n) on Arch's lanes (the two may overlap only exactly).
template <class Arch = xsimd::default_arch, class Scalar>
inline void add_scaled_lanes(Scalar* dst, const Scalar* src, Scalar scale, Index n) noexcept {
  for_each_lane<Arch, Scalar>(n, [&](auto lanes, Index i) {
    using T = typename decltype(lanes)::type;
    store_lanes(load_lanes(lanes, dst + i) + T(scale) * load_lanes(lanes, src + i), dst + i);
  });
}

}  // namespace dare::detail
