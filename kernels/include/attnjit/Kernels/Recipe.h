//===- Recipe.h - Kernel recipes and their registry --------------*- C++ -*-===//
//
// Part of attnjit. A recipe turns a spec of one variant into a kernel (or the
// kernels of a launch plan) for a range of archs: it owns its config table,
// says how a kernel of a given config is launched (threads, shared memory,
// grid), and emits the kernel IR on the layers below it (KernelBuilder,
// the per-arch instruction layers, Fragments/OnlineSoftmax/SdpaScoreMods).
//
// Recipes are listed once, in Recipes.def; adding one is its file plus one
// line there. For a spec, the registry picks among the recipes that serve its
// variant, arch and dtype the one with the highest minimum compute capability
// (an sm_90a recipe where one exists, else the sm_80 one).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_RECIPE_H
#define ATTNJIT_KERNELS_RECIPE_H

#include "attnjit/Core/AttentionSpec.h"

#include <string>
#include <string_view>
#include <vector>

namespace mlir {
class OpBuilder;
class Location;
namespace gpu {
class GPUModuleOp;
} // namespace gpu
} // namespace mlir

namespace attnjit::kernels {

/// One kernel of a recipe that emits several (RecipeLaunch::kernels).
struct RecipeKernel {
  std::string entrySuffix; ///< the kernel's symbol is spec.kernelName() + this
  int threads = 0;         ///< per CTA
  int sharedMemBytes = 0;  ///< dynamic, per CTA
  /// Tile grid (ceil(rows / rowsPerCta), heads, batch); what the rows, heads
  /// and batch are is the entry point's (e.g. Sage: key chunks, kv heads).
  int rowsPerCta = 0;
};

/// How a recipe's kernel is launched (for a spec with a complete config).
struct RecipeLaunch {
  int threads = 0;        ///< per CTA
  int sharedMemBytes = 0; ///< dynamic, per CTA
  /// Grid: (ceil(rows / rowsPerCta), heads, batch), where rows are the query
  /// rows (attention) or token rows (merge).
  int rowsPerCta = 0;
  /// The kernel's signature is its variant's ABI table followed by TMA tensor
  /// maps (kFlashSm90Params, kGemmTmaParams), which the launcher encodes per call.
  bool tensorMaps = false;
  /// > 0: a persistent kernel (GridPolicy::Persistent) with this many CTAs per
  /// SM, each walking tiles of rowsPerCta rows; 0: one CTA per tile.
  int ctasPerSm = 0;
  /// A plan of several kernels (Sage: reduce, quantize, attend), in launch
  /// order, each with the variant's ABI table as its signature and sharing a
  /// workspace whose size the entry point computes per launch. Empty for a
  /// one-kernel recipe (the fields above describe it).
  std::vector<RecipeKernel> kernels;
};

class KernelRecipe {
public:
  virtual ~KernelRecipe() = default;
  /// Short name, e.g. "flash-sm80"; shown in logs and --stats.
  virtual std::string_view name() const = 0;
  /// Whether it emits kernels of this variant.
  virtual bool servesVariant(Variant v) const = 0;
  /// The lowest compute capability it runs on (80, 90, ...); the registry
  /// prefers higher ones.
  virtual int minCapability() const = 0;
  /// Whether it can target `arch` (an arch string that passed validation):
  /// by default every arch at or above minCapability().
  virtual bool servesArch(std::string_view arch) const;
  /// Whether it emits kernels of this element type: by default every one its
  /// variant takes. A recipe that takes fewer (the sm_90a GEMM: f16 and bf16,
  /// f32 staying on the sm_80 recipe's exact FMA path) leaves the others to
  /// the next recipe of its variant.
  virtual bool servesDtype(DType) const { return true; }
  /// The spec's config with zero fields taken from the recipe's table.
  virtual KernelConfig defaultConfig(const AttentionSpec &spec) const = 0;
  /// Fills `out` for a spec with a complete config; returns a message naming
  /// the problem when the spec or config cannot be built (empty on success).
  virtual std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const = 0;
  /// Appends the kernel(s) for `spec` (launch() succeeded) to `module`.
  virtual void emit(mlir::OpBuilder &b, mlir::Location loc, mlir::gpu::GPUModuleOp module,
                    const AttentionSpec &spec) const = 0;
};

/// Every registered recipe, in Recipes.def order.
const std::vector<const KernelRecipe *> &allRecipes();

/// The recipe for `spec` (variant, arch and dtype), or null with `why` naming
/// the variant and arch (and dtype) and the recipes considered. `skipped`, when given,
/// receives the names of serving recipes passed over for a preferred one
/// (for the caller's debug log).
const KernelRecipe *selectRecipe(const AttentionSpec &spec, std::string *why,
                                 std::vector<std::string> *skipped = nullptr);

// One accessor per recipe, declared from the list.
#define ATTNJIT_RECIPE(fn) const KernelRecipe &fn();
#include "attnjit/Kernels/Recipes.def"
#undef ATTNJIT_RECIPE

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_RECIPE_H
