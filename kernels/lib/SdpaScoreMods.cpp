//===- SdpaScoreMods.cpp - SDPA masks and dropout on score fragments ------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/SdpaScoreMods.h"
#include "attnjit/Core/Philox.h"

using namespace mlir;

namespace attnjit::kernels {

void SdpaScoreMods::init(const KernelFunction &fn, Value batch, Value head, Value seqQ,
                         Value seqKArg, Value scaleLog2Arg) {
  seqK = seqKArg;
  scaleLog2 = scaleLog2Arg;
  if (hasMask()) {
    int maskBytes = additive() ? eltBytes : 1;
    Value off = arith::AddIOp::create(kb.b, kb.loc,
                                      kb.mul(kb.ext64(batch), fn.arg("mask_batch_stride")),
                                      kb.mul(kb.ext64(head), fn.arg("mask_head_stride")));
    Value maskBase = kb.gepG(fn.arg("mask"), kb.mul(off, kb.ci64(maskBytes)));
    maskColStride = fn.arg("mask_col_stride");
    if (spec.maskPerKey) {
      maskRowBase.push_back(maskBase);
    } else {
      // Rows past Sq read the last row's entries (their results are not stored).
      Value lastRow = kb.sub(seqQ, kb.ci32(1));
      for (int r = 0; r < at.frag.rows(); ++r) {
        Value row = kb.minsi(at.row(r), lastRow);
        maskRowBase.push_back(kb.gepG(
            maskBase, kb.mul(kb.mul(kb.ext64(row), fn.arg("mask_row_stride")), kb.ci64(maskBytes))));
      }
    }
  }
  if (hasDropout()) {
    auto lo32 = [&](Value v) { return arith::TruncIOp::create(kb.b, kb.loc, kb.i32, v).getResult(); };
    auto hi32 = [&](Value v) {
      return lo32(arith::ShRUIOp::create(kb.b, kb.loc, v, kb.ci64(32)).getResult());
    };
    dropThreshold = fn.arg("dropout_threshold");
    dropScale = fn.arg("dropout_scale");
    philoxBH = kb.add(kb.mul(batch, fn.arg("num_heads")), head);
    philoxOffLo = lo32(fn.arg("offset"));
    philoxK0 = lo32(fn.arg("seed"));
    philoxK1 = kb.xori(hi32(fn.arg("seed")), hi32(fn.arg("offset")));
  }
}

/// The caller's mask value at `key` for row slot r: an i1 "attend" for bool
/// masks (either polarity), mask * log2(e) for additive ones. Rows past Sq read the last row's
/// entries (maskRowBase); callers clamp keys to Sk - 1 where they may pass it
/// (such scores are -inf already).
Value SdpaScoreMods::loadMask(Value key, int r) {
  Type maskElt = additive() ? elt : Type(kb.i8);
  int maskBytes = additive() ? eltBytes : 1;
  Value colOff = kb.mul(kb.mul(kb.ext64(key), maskColStride), kb.ci64(maskBytes));
  Value m = LLVM::LoadOp::create(kb.b, kb.loc, maskElt, kb.gepG(maskRowBase[r], colOff), maskBytes);
  if (additive())
    return kb.fmul(elt.isF32() ? m : arith::ExtFOp::create(kb.b, kb.loc, kb.f32, m).getResult(),
                   kb.cf32(1.4426950408889634));
  // BoolHides: a nonzero byte hides the key, so zero attends.
  return kb.cmpi(spec.maskKind == MaskKind::BoolHides ? arith::CmpIPredicate::eq
                                                      : arith::CmpIPredicate::ne,
                 m, arith::ConstantIntOp::create(kb.b, kb.loc, kb.i8, 0));
}

SmallVector<Value> SdpaScoreMods::loadKeyMask(Value n) {
  SmallVector<Value> vals;
  Value lastKey = kb.sub(seqK, kb.ci32(1));
  for (int c = 0; c < (at.blockN + 63) / 64; ++c) {
    Value key0 = kb.add(kb.mul(n, kb.ci32(at.blockN)),
                        kb.add(kb.ci32(64 * c), kb.mul(at.lane, kb.ci32(2))));
    Value m0 = loadMask(kb.minsi(key0, lastKey), 0);
    Value m1 = loadMask(kb.minsi(kb.add(key0, kb.ci32(1)), lastKey), 0);
    if (additive()) {
      vals.push_back(m0);
      vals.push_back(m1);
    } else {
      vals.push_back(arith::OrIOp::create(kb.b, kb.loc, kb.select(m0, kb.ci32(1), kb.ci32(0)),
                                          kb.select(m1, kb.ci32(2), kb.ci32(0))));
    }
  }
  return vals;
}

void SdpaScoreMods::applyMask(Value n, bool masked, ArrayRef<Value> keyMask,
                              SmallVectorImpl<Value> &s) {
  const AccFragment &f = at.frag;
  Value negInf = kb.negInf();
  Value lastKey = kb.sub(seqK, kb.ci32(1));
  for (int j = 0; j < f.nTiles; ++j) {
    Value perKey[2];
    if (spec.maskPerKey) {
      // Column 8j + 2 * (lane % 4) + e was loaded by lane 4 * (j % 8) + lane % 4.
      Value src = kb.add(kb.ci32(4 * (j % 8)), kb.andi(at.lane, 3));
      int c = j / 8;
      for (int e = 0; e < 2; ++e)
        perKey[e] = additive() ? kb.shflIdx(keyMask[2 * c + e], src)
                               : kb.cmpi(arith::CmpIPredicate::ne,
                                         kb.andi(kb.shflIdx(keyMask[c], src), 1 << e), kb.ci32(0));
    }
    for (int e = 0; e < 2; ++e)
      for (int r = 0; r < f.rows(); ++r) {
        Value m = perKey[e];
        if (!spec.maskPerKey) {
          Value key = at.key(n, j, e);
          m = loadMask(masked ? kb.minsi(key, lastKey) : key, r);
        }
        Value &v = s[f.index(r, j, e)];
        v = additive() ? kb.fma(v, scaleLog2, m) : kb.select(m, v, negInf);
      }
  }
}

/// Philox4x32-10 (Philox.h) of one 2x2 score block: rows (row, row + 8),
/// keys (key, key + 1) with row % 16 < 8 and key even.
SmallVector<Value, 4> SdpaScoreMods::philox(Value key, Value row) {
  SmallVector<Value, 4> x = {kb.shrui(key, 1), row, philoxBH, philoxOffLo};
  Value k0 = philoxK0, k1 = philoxK1;
  for (int round = 0; round < 10; ++round) {
    auto p0 = arith::MulUIExtendedOp::create(kb.b, kb.loc, kb.ci32(int32_t(kPhiloxM0)), x[0]);
    auto p1 = arith::MulUIExtendedOp::create(kb.b, kb.loc, kb.ci32(int32_t(kPhiloxM1)), x[2]);
    x = SmallVector<Value, 4>{kb.xori(kb.xori(p1.getHigh(), x[1]), k0), p1.getLow(),
                              kb.xori(kb.xori(p0.getHigh(), x[3]), k1), p0.getLow()};
    if (round < 9) {
      k0 = kb.add(k0, kb.ci32(int32_t(kPhiloxW0)));
      k1 = kb.add(k1, kb.ci32(int32_t(kPhiloxW1)));
    }
  }
  return x;
}

SmallVector<Value> SdpaScoreMods::dropoutWords(Value n) {
  SmallVector<Value> words;
  for (int mt = 0; mt < at.frag.mTiles; ++mt)
    for (int j = 0; j < at.frag.nTiles; ++j)
      words.append(philox(at.key(n, j, 0), at.row(2 * mt)));
  return words;
}

Value SdpaScoreMods::dropout(Value p, Value word) {
  Value keep = kb.cmpi(arith::CmpIPredicate::uge, word, dropThreshold);
  return kb.select(keep, p, kb.cf32(0.0));
}

} // namespace attnjit::kernels
