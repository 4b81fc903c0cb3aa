// dare/serve.hpp — every public header of the serve layer.
#pragma once

#include "dare/core.hpp"
#include "dare/serve/model_file.hpp"
#include "dare/serve/model_kinds.hpp"
#include "dare/serve/scorer.hpp"
