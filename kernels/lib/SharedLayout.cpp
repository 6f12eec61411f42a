//===- SharedLayout.cpp - Swizzled shared-memory tile layouts -------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/SharedLayout.h"

#include <cassert>

using namespace mlir;

namespace attnjit::kernels {

Value SwizzledTileLayout::offset(Value row, Value chunk) {
  Value phys;
  if (pitchChunks == 4) {
    phys = kb.xori(chunk, kb.andi(kb.shrui(row, 1), 3));
  } else {
    Value hi = kb.andi(chunk, ~int64_t(7));
    Value lo = kb.andi(kb.xori(chunk, row), 7);
    phys = kb.add(hi, lo);
  }
  return kb.mul(kb.add(kb.mul(row, kb.ci32(pitchChunks)), phys), kb.ci32(16));
}

Value SwizzledTileLayout::ldmXorTerm(Value row, Value c0) {
  if (pitchChunks == 4)
    return kb.xori(c0, kb.andi(kb.shrui(row, 1), 3));
  return kb.andi(kb.xori(c0, row), 7);
}

SwizzledTileLayout::LdmBases SwizzledTileLayout::ldmBases(Value rowBytes, Value xorTerm) {
  LdmBases bases;
  for (int r = 0; r < swizzleWidth(); r += 2)
    bases.push_back(kb.add(rowBytes, kb.mul(kb.xori(xorTerm, kb.ci32(r)), kb.ci32(16))));
  return bases;
}

Value SwizzledTileLayout::ldmOffset(const LdmBases &bases, Value tileOff, int rowConst,
                                    int kConst) {
  assert(kConst % 2 == 0 && "ldmatrix x4 chunks come in pairs");
  int w = swizzleWidth();
  Value v = bases[kConst % w / 2];
  if (tileOff)
    v = kb.add(tileOff, v);
  int imm = (rowConst * pitchChunks + kConst - kConst % w) * 16;
  return imm ? kb.add(v, kb.ci32(imm)) : v;
}

} // namespace attnjit::kernels
