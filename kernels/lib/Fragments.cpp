//===- Fragments.cpp - Accumulator fragments of the tensor-core MMAs ------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/Fragments.h"

using namespace mlir;

namespace attnjit::kernels {

void maskColumnsFrom(KernelBuilder &kb, FragmentCoords &at, Value n, SmallVectorImpl<Value> &s,
                     llvm::function_ref<Value(int r)> limit) {
  Value negInf = kb.negInf();
  for (int r = 0; r < at.frag.rows(); ++r) {
    Value lim = limit(r);
    for (int j = 0; j < at.frag.nTiles; ++j)
      for (int e = 0; e < 2; ++e) {
        Value ok = kb.cmpi(arith::CmpIPredicate::slt, at.key(n, j, e), lim);
        Value &v = s[at.frag.index(r, j, e)];
        v = kb.select(ok, v, negInf);
      }
  }
}

} // namespace attnjit::kernels
