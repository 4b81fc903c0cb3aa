// dare/embedding.hpp — every public header of the embedding layer.
#pragma once

#include "dare/core.hpp"
