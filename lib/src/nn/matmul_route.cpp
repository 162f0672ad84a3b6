#include "seqenc/nn/matmul_route.h"

namespace seqenc {

namespace {
thread_local MatmulRoute t_route = MatmulRoute::onednn;
}

MatmulScope::MatmulScope(MatmulRoute route) : previous_(t_route) {
  if (route != MatmulRoute::automatic) t_route = route;
}

MatmulScope::~MatmulScope() { t_route = previous_; }

MatmulRoute matmul_route() { return t_route; }

}  // namespace seqenc
