// dare/nn.hpp — every public header of the nn layer.
#pragma once

#include "dare/core.hpp"
