// dare/embedding.hpp — every public header of the embedding layer.
#pragma once

#include "dare/core.hpp"
#include "dare/embedding/adagrad.hpp"
#include "dare/embedding/adam.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/embedding/embedding_table.hpp"
#include "dare/embedding/optimizer_common.hpp"
#include "dare/embedding/sgd.hpp"
#include "dare/embedding/sparse_grad.hpp"
