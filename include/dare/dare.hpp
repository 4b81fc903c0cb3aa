// dare/dare.hpp — the umbrella header: the whole library.
//
// Layers depend one way: core → embedding → search → attention → nn → models →
// data / train / serve. Each layer also has its own umbrella header (dare/search.hpp, ...).
#pragma once

#include "dare/core.hpp"
#include "dare/embedding.hpp"
#include "dare/search.hpp"
#include "dare/attention.hpp"
#include "dare/nn.hpp"
#include "dare/models.hpp"
#include "dare/data.hpp"
#include "dare/train.hpp"
#include "dare/serve.hpp"
