// dare/attention.hpp — every public header of the attention layer.
#pragma once

#include "dare/core.hpp"
#include "dare/attention/softmax_attention.hpp"
#include "dare/attention/target_aggregation.hpp"
