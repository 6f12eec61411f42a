//===- OnlineSoftmax.cpp - The exp2-domain online softmax -----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/OnlineSoftmax.h"

#include <cmath>

using namespace mlir;

namespace attnjit::kernels {

SmallVector<Value> OnlineSoftmax::blockMax(ArrayRef<Value> s, ArrayRef<Value> rowMax) {
  const int R = sf.rows();
  SmallVector<Value> out(R);
  for (int r = 0; r < R; ++r) {
    Value mx = rowMax[r];
    for (int j = 0; j < sf.nTiles; ++j)
      for (int e = 0; e < 2; ++e)
        mx = kb.fmax(mx, s[sf.index(r, j, e)]);
    mx = kb.fmax(mx, kb.shflXor(mx, AccFragment::kRowLaneMasks[0]));
    out[r] = kb.fmax(mx, kb.shflXor(mx, AccFragment::kRowLaneMasks[1]));
  }
  return out;
}

Value OnlineSoftmax::scaledMax(Value mx) {
  Value isEmpty = kb.cmpf(arith::CmpFPredicate::OEQ, mx, kb.negInf());
  return kb.select(isEmpty, kb.cf32(0.0), kb.fmul(mx, scale));
}

Value OnlineSoftmax::rescaleVote(ArrayRef<Value> blockMax, ArrayRef<Value> rowMax) {
  Value anyGrow;
  for (int r = 0; r < sf.rows(); ++r) {
    Value grow = kb.fma(blockMax[r], scale, kb.fneg(kb.fmul(rowMax[r], scale)));
    // NaN (both -inf) compares false: an empty row never forces a rescale.
    Value g = kb.cmpf(arith::CmpFPredicate::OGT, grow, kb.cf32(slack));
    anyGrow = anyGrow ? arith::OrIOp::create(kb.b, kb.loc, anyGrow, g).getResult() : g;
  }
  return kb.voteAny(anyGrow);
}

void OnlineSoftmax::rescale(ArrayRef<Value> blockMax, SmallVectorImpl<Value> &rowMax,
                            SmallVectorImpl<Value> &rowSum, SmallVectorImpl<Value> &acc) {
  OpBuilder &b = kb.b;
  const int R = sf.rows();
  Value vote = rescaleVote(blockMax, rowMax);
  SmallVector<Type> types(R * 2 + acc.size(), kb.f32);
  auto ifOp = scf::IfOp::create(b, kb.loc, types, vote, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    // Results: R maxima, R row sums, then O.
    auto yieldState = [&](ArrayRef<Value> maxes, ArrayRef<Value> sums, ArrayRef<Value> o) {
      SmallVector<Value> state(maxes.begin(), maxes.end());
      state.append(sums.begin(), sums.end());
      state.append(o.begin(), o.end());
      scf::YieldOp::create(b, kb.loc, state);
    };
    SmallVector<Value> newAcc(acc.begin(), acc.end()), newSum(R);
    for (int r = 0; r < R; ++r) {
      Value alpha = kb.exp2(kb.fma(rowMax[r], scale, kb.fneg(scaledMax(blockMax[r]))));
      newSum[r] = kb.fmul(rowSum[r], alpha);
      for (int d = 0; d < of.nTiles; ++d)
        for (int e = 0; e < 2; ++e) {
          Value &o = newAcc[of.index(r, d, e)];
          o = kb.fmul(o, alpha);
        }
    }
    yieldState(blockMax, newSum, newAcc);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    yieldState(rowMax, rowSum, acc);
  }
  for (int r = 0; r < R; ++r) {
    rowMax[r] = ifOp.getResult(r);
    rowSum[r] = ifOp.getResult(R + r);
  }
  for (size_t i = 0; i < acc.size(); ++i)
    acc[i] = ifOp.getResult(2 * R + i);
}

SmallVector<Value> OnlineSoftmax::rescaleDeferred(ArrayRef<Value> blockMax,
                                                  SmallVectorImpl<Value> &rowMax,
                                                  SmallVectorImpl<Value> &rowSum) {
  OpBuilder &b = kb.b;
  const int R = sf.rows();
  Value vote = rescaleVote(blockMax, rowMax);
  // Results: R maxima, R row sums, R factors.
  SmallVector<Type> types(R * 3, kb.f32);
  auto ifOp = scf::IfOp::create(b, kb.loc, types, vote, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    SmallVector<Value> state(blockMax.begin(), blockMax.end()), alphas;
    for (int r = 0; r < R; ++r) {
      Value alpha = kb.exp2(kb.fma(rowMax[r], scale, kb.fneg(scaledMax(blockMax[r]))));
      state.push_back(kb.fmul(rowSum[r], alpha));
      alphas.push_back(alpha);
    }
    state.append(alphas);
    scf::YieldOp::create(b, kb.loc, state);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    SmallVector<Value> keep(rowMax.begin(), rowMax.end());
    keep.append(rowSum.begin(), rowSum.end());
    keep.append(R, kb.cf32(1.0));
    scf::YieldOp::create(b, kb.loc, keep);
  }
  SmallVector<Value> factor;
  for (int r = 0; r < R; ++r) {
    rowMax[r] = ifOp.getResult(r);
    rowSum[r] = ifOp.getResult(R + r);
    factor.push_back(ifOp.getResult(2 * R + r));
  }
  return factor;
}

void OnlineSoftmax::scaleRows(ArrayRef<Value> factor, SmallVectorImpl<Value> &acc) {
  for (int r = 0; r < of.rows(); ++r)
    for (int d = 0; d < of.nTiles; ++d)
      for (int e = 0; e < 2; ++e) {
        Value &o = acc[of.index(r, d, e)];
        o = kb.fmul(o, factor[r]);
      }
}

void OnlineSoftmax::exponentiate(ArrayRef<Value> s, ArrayRef<Value> rowMax,
                                 SmallVectorImpl<Value> &rowSum,
                                 llvm::function_ref<void(int, int, Value (&)[2])> sink) {
  for (int r = 0; r < sf.rows(); ++r) {
    Value negM = kb.fneg(scaledMax(rowMax[r]));
    Value sum;
    for (int j = 0; j < sf.nTiles; ++j) {
      Value p[2];
      for (int x = 0; x < 2; ++x)
        p[x] = kb.exp2(kb.fma(s[sf.index(r, j, x)], scale, negM));
      Value pairSum = kb.fadd(p[0], p[1]);
      sum = sum ? kb.fadd(sum, pairSum) : pairSum;
      sink(r, j, p);
    }
    rowSum[r] = kb.fadd(rowSum[r], sum);
  }
}

OnlineSoftmax::RowTotal OnlineSoftmax::finish(Value partialSum) {
  RowTotal t;
  Value sum = partialSum;
  for (int mask : AccFragment::kRowLaneMasks)
    sum = kb.fadd(sum, kb.shflXor(sum, mask));
  t.sum = sum;
  t.empty = kb.cmpf(arith::CmpFPredicate::OEQ, sum, kb.cf32(0.0));
  t.inv = kb.select(t.empty, kb.cf32(0.0), arith::DivFOp::create(kb.b, kb.loc, kb.cf32(1.0), sum));
  return t;
}

Value OnlineSoftmax::logSumExp(Value rowMax, const RowTotal &t, Value scaleLog2) {
  Value log2Sum = kb.log2(t.sum);
  Value lse = kb.fmul(kb.fma(rowMax, scaleLog2, log2Sum), kb.cf32(std::log(2.0)));
  return kb.select(t.empty, kb.negInf(), lse);
}

} // namespace attnjit::kernels
