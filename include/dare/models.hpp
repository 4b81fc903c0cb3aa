// dare/models.hpp — every public header of the models layer.
#pragma once

#include "dare/core.hpp"
