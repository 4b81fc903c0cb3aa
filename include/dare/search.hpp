// dare/search.hpp — every public header of the search layer.
#pragma once

#include "dare/core.hpp"
