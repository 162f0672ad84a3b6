#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <torch/torch.h>

int main(int argc, char* argv[]) {
  // Tests are small; one intra-op thread keeps results reproducible and ctest -j fair.
  torch::set_num_threads(1);
  return Catch::Session().run(argc, argv);
}
