// dare/models.hpp — every public header of the models layer.
#pragma once

#include "dare/models/dare.hpp"
#include "dare/models/twin.hpp"
#include "dare/models/two_stage_model.hpp"
