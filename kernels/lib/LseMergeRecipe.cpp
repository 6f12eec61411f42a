//===- LseMergeRecipe.cpp - Merge partial outputs by their log-sum-exps ---===//
//
// Part of attnjit.
//
// The kernel that split-KV decoding and ring attention finish with
// (MergeKernelABI.h): P partial outputs o_p of the same query rows over
// disjoint key sets, each with its lse_p, become
//   lse = m + log(sum_p exp(lse_p - m)),  o = sum_p exp(lse_p - lse) o_p,
// with m = max_p lse_p, in fp32. Parts with lse_p = -inf saw no key: their
// weight is 0 and their o_p (possibly never written) is not multiplied in, so
// NaN garbage there cannot reach the result. A row whose every part is empty
// gets zeros and lse = -inf.
//
// One warp per row (token, head): lane l owns columns l, l + 32, ... The parts
// are a run-time loop (two passes: the max, then the weighted sum), so one
// kernel serves every part count. Architecture-neutral: plain loads and SFU
// exp2/lg2 from the builder library, no matrix instructions.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/KernelBuilder.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Core/MergeKernelABI.h"

#include <fmt/format.h>

#include <cassert>
#include <cmath>

using namespace mlir;

namespace attnjit::kernels {
namespace {

constexpr double kLog2E = 1.4426950408889634;

class LseMergeEmitter : public KernelBuilder {
public:
  LseMergeEmitter(OpBuilder &b, Location loc, const AttentionSpec &spec)
      : KernelBuilder(b, loc), spec(spec) {
    elt = spec.dtype == DType::F16    ? Type(b.getF16Type())
          : spec.dtype == DType::BF16 ? Type(b.getBF16Type())
                                      : Type(f32);
    eltBytes = dtypeSize(spec.dtype);
  }

  void emit(gpu::GPUModuleOp module) {
    const KernelConfig &c = spec.config;
    const int cols = (spec.headDim + 31) / 32; // columns per lane
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    fn = createKernel(module, spec.kernelName(), kMergeParams, 32 * c.numWarps);

    Value tid = threadIdX();
    Value lane = andi(tid, 31), warp = shrui(tid, 5);
    Value head = blockId(gpu::Dimension::y), batch = blockId(gpu::Dimension::z);
    Value row = add(mul(blockId(gpu::Dimension::x), ci32(c.blockM)), warp);
    Value seqlen = arg("seqlen");
    ifThen(cmpi(arith::CmpIPredicate::slt, row, seqlen), [&] {
      // Element offsets of this row in part 0; each part adds its stride.
      Value partRow = add(add(mul(ext64(batch), arg("part_batch_stride")),
                                  mul(ext64(row), arg("part_row_stride"))),
                            mul(ext64(head), arg("part_head_stride")));
      Value lseRow = add(add(mul(ext64(batch), arg("lse_batch_stride")),
                                 mul(ext64(head), arg("lse_head_stride"))),
                           mul(ext64(row), arg("lse_row_stride")));
      auto partLse = [&](Value p) {
        Value off = add(lseRow, mul(ext64(p), arg("lse_part_stride")));
        return LLVM::LoadOp::create(b, loc, f32, gepG(arg("parts_lse"), mul(off, ci64(4))), 4)
            .getResult();
      };
      Value numParts = arg("num_parts");

      // Pass 1: m = max_p lse_p.
      auto maxLoop = scf::ForOp::create(b, loc, ci32(0), numParts, ci32(1), ValueRange{negInf()});
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(maxLoop.getBody());
        Value m = fmax(maxLoop.getRegionIterArgs()[0], partLse(maxLoop.getInductionVar()));
        scf::YieldOp::create(b, loc, m);
      }
      Value m = maxLoop.getResult(0);
      Value allEmpty = cmpf(arith::CmpFPredicate::OEQ, m, negInf());
      // 0 for an all-empty row: every weight is then exp2(-inf) = 0.
      Value mLog2 = select(allEmpty, cf32(0.0), fmul(m, cf32(kLog2E)));

      // Pass 2: weights w_p = exp2(lse_p log2 e - m log2 e), their sum, and
      // sum_p w_p o_p per owned column.
      SmallVector<Value> init(cols + 1, cf32(0.0));
      auto sumLoop = scf::ForOp::create(b, loc, ci32(0), numParts, ci32(1), init);
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(sumLoop.getBody());
        Value p = sumLoop.getInductionVar();
        ValueRange it = sumLoop.getRegionIterArgs();
        Value w = exp2(fma(partLse(p), cf32(kLog2E), fneg(mLog2)));
        Value live = cmpf(arith::CmpFPredicate::OGT, w, cf32(0.0));
        SmallVector<Value> next;
        next.push_back(fadd(it[0], w));
        Value rowOff = add(partRow, mul(ext64(p), arg("part_stride")));
        for (int i = 0; i < cols; ++i) {
          Value col = add(lane, ci32(32 * i));
          Value inCol = cmpi(arith::CmpIPredicate::slt, col, ci32(spec.headDim));
          // Columns past head_dim and empty parts read element 0 of the part
          // row (always in bounds) and add nothing.
          Value ok = arith::AndIOp::create(b, loc, inCol, live);
          Value off = select(ok, add(rowOff, ext64(col)), rowOff);
          Value x = LLVM::LoadOp::create(b, loc, elt,
                                         gepG(arg("parts"), mul(off, ci64(eltBytes))), eltBytes);
          if (elt != f32)
            x = arith::ExtFOp::create(b, loc, f32, x);
          next.push_back(select(ok, fma(w, x, it[1 + i]), it[1 + i]));
        }
        scf::YieldOp::create(b, loc, next);
      }
      Value wsum = sumLoop.getResult(0);
      Value empty = cmpf(arith::CmpFPredicate::OEQ, wsum, cf32(0.0));
      Value inv = select(empty, cf32(0.0), arith::DivFOp::create(b, loc, cf32(1.0), wsum));

      Value oRow = add(add(mul(ext64(batch), arg("o_batch_stride")),
                               mul(ext64(row), arg("o_row_stride"))),
                         mul(ext64(head), arg("o_head_stride")));
      for (int i = 0; i < cols; ++i) {
        Value col = add(lane, ci32(32 * i));
        auto store = [&] {
          Value o = fmul(sumLoop.getResult(1 + i), inv);
          if (elt != f32)
            o = arith::TruncFOp::create(b, loc, elt, o);
          Value ptr = gepG(arg("o"), mul(add(oRow, ext64(col)), ci64(eltBytes)));
          LLVM::StoreOp::create(b, loc, o, ptr, eltBytes);
        };
        if (32 * (i + 1) <= spec.headDim)
          store();
        else
          ifThen(cmpi(arith::CmpIPredicate::slt, col, ci32(spec.headDim)), store);
      }
      if (spec.returnLse) {
        ifThen(cmpi(arith::CmpIPredicate::eq, lane, ci32(0)), [&] {
          // lse = m + ln(wsum), natural log; -inf for an all-empty row.
          Value lse = fmul(fadd(mLog2, log2(wsum)), cf32(std::log(2.0)));
          lse = select(empty, negInf(), lse);
          Value idx = add(mul(add(mul(ext64(batch), ext64(arg("num_heads"))), ext64(head)),
                                ext64(seqlen)),
                            ext64(row));
          LLVM::StoreOp::create(b, loc, lse, gepG(arg("lse"), mul(idx, ci64(4))), 4);
        });
      }
    });
    gpu::ReturnOp::create(b, loc);
  }

private:
  Value arg(const char *name) { return fn.arg(name); }

  const AttentionSpec &spec;
  KernelFunction fn;
  Type elt;
  int eltBytes = 2;
};

class LseMergeRecipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "lse-merge"; }
  bool servesVariant(Variant v) const override { return v == Variant::Merge; }
  int minCapability() const override { return 80; }
  /// Memory-bound: 8 warps (rows) per CTA keep enough loads in flight.
  /// block_n and stages have no meaning here and are 1.
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    KernelConfig c = spec.config;
    if (c.numWarps == 0) c.numWarps = c.blockM ? c.blockM : 8;
    if (c.blockM == 0) c.blockM = c.numWarps;
    if (c.blockN == 0) c.blockN = 1;
    if (c.stages == 0) c.stages = 1;
    return c;
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    const KernelConfig &c = spec.config;
    if (!c.isComplete())
      return "config: incomplete (" + c.str() + ")";
    if (c.numWarps > 32)
      return fmt::format("config: at most 32 warps, got {}", c.numWarps);
    if (c.blockM != c.numWarps)
      return fmt::format("config: merge kernels take one row per warp: block_m ({}) must equal "
                         "warps ({})",
                         c.blockM, c.numWarps);
    if (c.blockN != 1 || c.stages != 1)
      return fmt::format("config: merge kernels have no key blocks or stages: block_n and "
                         "stages must be 1, got {} and {}",
                         c.blockN, c.stages);
    if (spec.dtype != DType::F16 && spec.dtype != DType::BF16 && spec.dtype != DType::F32)
      return fmt::format("dtype: merge supports f16, bf16 and f32, got {}", toString(spec.dtype));
    out.threads = 32 * c.numWarps;
    out.sharedMemBytes = 0;
    out.rowsPerCta = c.blockM;
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    LseMergeEmitter(b, loc, spec).emit(module);
  }
};

} // namespace

const KernelRecipe &lseMergeRecipe() {
  static const LseMergeRecipe recipe;
  return recipe;
}

} // namespace attnjit::kernels
