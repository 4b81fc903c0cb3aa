// dare/attention.hpp — every public header of the attention layer.
#pragma once

#include "dare/core.hpp"
