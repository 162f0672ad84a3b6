// LibTorch's own float products go through the program's sgemm_ (app/blas_override.cpp, oneDNN): every
// transpose and leading dimension BLAS allows must give what a double-precision product gives.
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#include "helpers.h"

using seqenc::test::rel_diff;

namespace {

// Where each LibTorch library's PLT slot for sgemm_ points (bound lazily, at the first call; nullptr where the library
// has no such slot: it makes no sgemm_ calls the program could answer).
std::vector<std::pair<std::string, void*>> torch_sgemm_slots() {
  std::vector<std::pair<std::string, void*>> slots;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libtorch") == std::string::npos) return 0;
        const ElfW(Dyn)* dyn = nullptr;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        }
        if (!dyn) return 0;
        // glibc has relocated the dynamic section's pointers in place on x86-64; a small one is still relative.
        auto at = [&](ElfW(Addr) p) { return p < info->dlpi_addr ? p + info->dlpi_addr : p; };
        ElfW(Addr) jmprel = 0, symtab = 0, strtab = 0;
        size_t size = 0;
        for (; dyn->d_tag != DT_NULL; ++dyn) {
          if (dyn->d_tag == DT_JMPREL) jmprel = at(dyn->d_un.d_ptr);
          if (dyn->d_tag == DT_PLTRELSZ) size = dyn->d_un.d_val;
          if (dyn->d_tag == DT_SYMTAB) symtab = at(dyn->d_un.d_ptr);
          if (dyn->d_tag == DT_STRTAB) strtab = at(dyn->d_un.d_ptr);
        }
        void* target = nullptr;
        const auto* rela = reinterpret_cast<const ElfW(Rela)*>(jmprel);
        for (size_t i = 0; jmprel && i < size / sizeof(ElfW(Rela)); ++i) {
          const auto& sym = reinterpret_cast<const ElfW(Sym)*>(symtab)[ELF64_R_SYM(rela[i].r_info)];
          if (std::strcmp(reinterpret_cast<const char*>(strtab) + sym.st_name, "sgemm_") == 0) {
            target = *reinterpret_cast<void**>(info->dlpi_addr + rela[i].r_offset);
          }
        }
        static_cast<std::vector<std::pair<std::string, void*>>*>(out)->emplace_back(name, target);
        return 0;
      },
      &slots);
  return slots;
}

}  // namespace

TEST_CASE("LibTorch's float products through the program's sgemm_ match double precision", "[blas]") {
  // The symbol LibTorch resolves is this executable's.
  void* self = dlopen(nullptr, RTLD_NOW);
  REQUIRE(dlsym(self, "sgemm_") == dlsym(RTLD_DEFAULT, "sgemm_"));
  torch::manual_seed(11);
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 3}, {64, 33, 130}, {300, 128, 257}}) {
    INFO(m << " x " << k << " x " << n);
    auto a = torch::randn({m, k}), b = torch::randn({k, n});
    const auto want = torch::mm(a.to(torch::kDouble), b.to(torch::kDouble));
    CHECK(rel_diff(torch::mm(a, b), want) < 1e-5);
    CHECK(rel_diff(torch::mm(a.t().contiguous().t(), b), want) < 1e-5);  // A transposed in memory
    CHECK(rel_diff(torch::mm(a, b.t().contiguous().t()), want) < 1e-5);  // B transposed in memory
    auto wide = torch::randn({m, k + 9});                                // a leading dimension past k
    const auto a_view = wide.narrow(1, 3, k);
    a_view.copy_(a);
    CHECK(rel_diff(torch::mm(a_view, b), want) < 1e-5);
    auto c = torch::randn({m, n});  // beta = 1, alpha = 2
    CHECK(rel_diff(torch::addmm(c, a, b, 1.0, 2.0), c.to(torch::kDouble) + 2 * want) < 1e-5);
  }
  // bmm and a GRU run through it too.
  auto x = torch::randn({4, 6, 5}), y = torch::randn({4, 5, 3});
  CHECK(rel_diff(torch::bmm(x, y), torch::bmm(x.to(torch::kDouble), y.to(torch::kDouble))) < 1e-5);
  torch::nn::GRU gru(torch::nn::GRUOptions(8, 8).batch_first(true));
  auto input = torch::randn({3, 10, 8});
  auto out = std::get<0>(gru->forward(input));
  gru->to(torch::kDouble);
  auto out64 = std::get<0>(gru->forward(input.to(torch::kDouble)));
  CHECK(rel_diff(out, out64) < 1e-5);
  // Empty products are BLAS's quick return.
  CHECK(torch::mm(torch::randn({0, 4}), torch::randn({4, 3})).sizes() == torch::IntArrayRef({0, 3}));
  CHECK(torch::mm(torch::randn({2, 0}), torch::randn({0, 3})).equal(torch::zeros({2, 3})));
}

TEST_CASE("LibTorch's own sgemm_ calls are bound to the program's", "[blas]") {
  torch::mm(torch::randn({8, 8}), torch::randn({8, 8}));  // the first call binds the slot
  const auto ours = dlsym(dlopen(nullptr, RTLD_NOW), "sgemm_");
  bool any = false;
  for (const auto& [library, target] : torch_sgemm_slots()) {
    if (!target) continue;
    INFO(library);
    Dl_info where{};
    REQUIRE(dladdr(target, &where) != 0);
    // Unbound, the slot still points into the library's own PLT: LibTorch made no sgemm_ call.
    if (!where.dli_sname || std::strcmp(where.dli_sname, "sgemm_") != 0) continue;
    any = true;
    CHECK(target == ours);  // not LibTorch's own BLAS (MKL in the 2.x wheel) nor libblas.so.3
  }
  if (!any) {
    SEQENC_SKIP("LibTorch " TORCH_VERSION
                " made no sgemm_ call through its PLT, so the program's sgemm_ "
                "(app/blas_override.cpp) answers none of its products");
  }
}
