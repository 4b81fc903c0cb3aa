// dare/core.hpp — every public header of the core layer.
#pragma once

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/denormals.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/core/file_io.hpp"
#include "dare/core/parallel.hpp"
#include "dare/core/prefetch.hpp"
#include "dare/core/simd.hpp"
