// dare/nn.hpp — every public header of the nn layer.
#pragma once

#include "dare/core.hpp"
#include "dare/nn/adam.hpp"
#include "dare/nn/batch_norm.hpp"
#include "dare/nn/linear.hpp"
#include "dare/nn/loss.hpp"
#include "dare/nn/mlp.hpp"
#include "dare/nn/parameter.hpp"
#include "dare/nn/prelu.hpp"
