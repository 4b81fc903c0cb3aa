// dare/models.hpp — every public header of the models layer.
#pragma once

#include "dare/models/embedding_layout.hpp"
#include "dare/models/scorers.hpp"
#include "dare/models/selectors.hpp"
#include "dare/models/sequence_model.hpp"
#include "dare/models/zoo.hpp"
