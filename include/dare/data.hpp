// dare/data.hpp — every public header of the data layer.
#pragma once

#include "dare/core.hpp"
