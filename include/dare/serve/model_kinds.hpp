// dare/serve/model_kinds.hpp — from a model file's kind to the model type that loads it.
//
// A model file names its kind (dare, twin, twin-hard, twin-proj, twin-notr, twin-4e, din,
// eta, sdim, twin-v2);
// with_model_kind calls a generic function with the zoo type of that kind at Dynamic widths,
// which reads a file written by a fixed-width model of the same kind (a checkpoint's format
// does not depend on how the widths were fixed). dare::Scorer and the tools share it.
#pragma once

#include <string>

#include "dare/core/error.hpp"
#include "dare/models/zoo.hpp"

namespace dare {

/// A model type as a value, for with_model_kind's callback.
template <class Model>
struct ModelType {
  using type = Model;
};

/// Returns fn(ModelType<M>{}) for the model type M of `kind` (FormatError naming `source`
/// for an unknown kind).
template <class Fn>
auto with_model_kind(const std::string& kind, const std::string& source, Fn&& fn) {
  if (kind == "dare") return fn(ModelType<Dare<float, Dynamic, Dynamic>>{});
  if (kind == "twin") return fn(ModelType<Twin<float, Dynamic>>{});
  if (kind == "twin-hard") return fn(ModelType<TwinHard<float, Dynamic>>{});
  if (kind == "twin-proj") return fn(ModelType<TwinProj<float, Dynamic>>{});
  if (kind == "twin-notr") return fn(ModelType<TwinNoTR<float, Dynamic>>{});
  if (kind == "twin-4e") return fn(ModelType<Twin4E<float, Dynamic, Dynamic>>{});
  if (kind == "din") return fn(ModelType<Din<float, Dynamic>>{});
  if (kind == "eta") return fn(ModelType<Eta<float, Dynamic>>{});
  if (kind == "sdim") return fn(ModelType<Sdim<float, Dynamic>>{});
  if (kind == "twin-v2") return fn(ModelType<TwinV2<float, Dynamic>>{});
  throw FormatError(source, 0, "kind",
                    detail::concat("unknown model kind '", kind,
                                   "' (this build knows dare, twin, twin-hard, twin-proj, twin-notr, twin-4e, din, eta, sdim, twin-v2)"));
}

}  // namespace dare
