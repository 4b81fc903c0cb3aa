// dare/search.hpp — every public header of the search layer.
#pragma once

#include "dare/core.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/hamming.hpp"
#include "dare/search/multi_search.hpp"
#include "dare/search/topk.hpp"
