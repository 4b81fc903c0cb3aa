// dare/train.hpp — every public header of the train layer.
#pragma once

#include "dare/core.hpp"
#include "dare/train/metrics.hpp"
#include "dare/train/trainer.hpp"
