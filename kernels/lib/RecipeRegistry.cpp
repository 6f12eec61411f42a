//===- RecipeRegistry.cpp - The list of kernel recipes and the selection --===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/Recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace attnjit::kernels {

bool KernelRecipe::servesArch(std::string_view arch) const {
  return archComputeCapability(arch) >= minCapability();
}

const std::vector<const KernelRecipe *> &allRecipes() {
  static const std::vector<const KernelRecipe *> recipes = {
#define ATTNJIT_RECIPE(fn) &fn(),
#include "attnjit/Kernels/Recipes.def"
#undef ATTNJIT_RECIPE
  };
  return recipes;
}

const KernelRecipe *selectRecipe(const AttentionSpec &spec, std::string *why,
                                 std::vector<std::string> *skipped) {
  const KernelRecipe *best = nullptr;
  std::vector<std::string> serving, considered;
  for (const KernelRecipe *r : allRecipes()) {
    if (!r->servesVariant(spec.variant))
      continue;
    considered.emplace_back(r->name());
    if (!r->servesArch(spec.arch) || !r->servesDtype(spec.dtype))
      continue;
    serving.emplace_back(r->name());
    if (!best || r->minCapability() > best->minCapability())
      best = r;
  }
  if (!best) {
    if (why)
      *why = considered.empty()
                 ? fmt::format("variant: no kernel recipe emits {} kernels", toString(spec.variant))
                 : fmt::format("arch: no {} recipe targets {} with {} (recipes: {})",
                               toString(spec.variant), spec.arch, toString(spec.dtype),
                               fmt::join(considered, ", "));
    return nullptr;
  }
  if (skipped)
    for (const std::string &n : serving)
      if (n != best->name())
        skipped->push_back(n);
  return best;
}

} // namespace attnjit::kernels
