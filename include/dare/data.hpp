// dare/data.hpp — every public header of the data layer: raw log readers, the preprocessing
// protocol and its provenance record, the dataset file, batches and the synthetic log generator.
#pragma once

#include "dare/core.hpp"
#include "dare/data/batch.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/preprocess.hpp"
#include "dare/data/provenance.hpp"
#include "dare/data/raw_log.hpp"
#include "dare/data/sampling.hpp"
#include "dare/data/synthetic.hpp"
