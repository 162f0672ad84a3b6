// Precompiled header: the heavy includes every library source needs.
#pragma once
#include <torch/torch.h>
