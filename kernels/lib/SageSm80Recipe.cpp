//===- SageSm80Recipe.cpp - SageAttention on the sm_80 instruction layer ---===//
//
// Part of attnjit.
//
// Quantized attention (SageAttention2's semantics, docs/SAGE.md) as a plan of
// four kernels (SageKernelABI.h), all emitted here:
//
//   reduce    per chunk of keys: per-channel sum, max and min of K, max |V|;
//   quant_kv  K' = K minus its mean (smooth_k) or K, divided per channel by
//             f_c = sqrt(max |K'_c|), to INT8, one scale per granularity
//             group of a key block; V to FP8 e4m3, one scale per channel,
//             transposed to [D, keys] with each 16-key group permuted (below);
//   quant_q   Q_c * f_c to INT8, softmax_scale * log2(e) folded into its
//             scales (the product is unchanged: sum_c (Q_c f_c)(K'_c / f_c));
//   attend    FlashAttention-2's loop (FlashSm80Recipe.cpp) on the quantized
//             operands: S = Q K^T by mma.sync m16n8k32 s8 (int32), times
//             q_scale * k_scale is already in the scaled log2 domain; the
//             online softmax (OnlineSoftmax.h, no rescale slack so that P stays
//             in [0, 1]); P * 448 to e4m3 and O += P V by mma.sync m16n8k32
//             e4m3 (fp32), per key block into a fresh accumulator that is then
//             added to O (pv_accum fp32_fp32) or straight into O (fp32). The
//             epilogue multiplies by V's channel scale / 448 and 1 / l.
//
// Error compensation. One e4m3 rounding of P and one of V each cost about
// 2.5% relative L2 of the output (3 mantissa bits), 3.7% together: what
// SageAttention2 measures, and above the bar of 2.5%. So both are
// split: X = X_hi + X_lo / 16, X_lo the e4m3 of 16 times what X_hi's rounding
// lost, and P V = P_hi V_hi + (P_lo V_hi + P_hi V_lo) / 16, three e4m3 MMAs
// whose small terms share an accumulator (P_lo V_lo, 2^-8 of the product, is
// dropped). That leaves the INT8 Q K^T as the main error (docs/SAGE.md).
//
// Channel factors. A K channel r times larger than the others sets the INT8
// scale of every key group it is in, and the other channels lose r times
// their resolution (K with x3 outlier channels: 1.7% relative L2 of the
// output, over 2.5% for a query row that sees ~100 keys). Dividing K'_c by
// f_c = sqrt(max |K'_c|) and multiplying Q_c by it leaves Q K'^T as it is and
// splits the channel's excess between the two operands (sqrt(r) each), which
// a float64 model of the quantization puts at the best exponent (1/2 beats
// 3/4 and 1 with x3 and x4 outliers; none changes normal inputs).
//
// Operand layouts. An 8-bit m16n8k32 MMA reads 32 bytes of K per row, as the
// 16-bit m16n8k16 one does, so Q and K tiles (rows of D bytes) use the flash
// recipe's swizzled tiles and ldmatrix addressing unchanged. V's operand is
// its transpose (rows d, columns keys), read the same way. The score
// accumulator of a thread holds keys 2c, 2c + 1, 8 + 2c, 9 + 2c (c = lane % 4)
// of each 16 keys, while the A operand wants k positions 4c .. 4c + 3: so the
// probabilities are packed as they lie, and quant_kv stores key m of each 16
// at position 4 ((m % 8) / 2) + m % 2 + 2 (m / 8), which makes V's k order the
// same permutation (a sum over keys does not care about their order).
//
// The workspace tensors are padded (rows to block_m, keys to block_n) and
// their pads are written as zeros, so the attention kernel copies whole tiles
// without bounds checks. e4m3 MMAs and conversions need sm_89.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Core/SageKernelABI.h"
#include "attnjit/Kernels/OnlineSoftmax.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Kernels/SharedLayout.h"
#include "attnjit/Kernels/Sm80Instructions.h"

#include <fmt/format.h>

#include <cassert>
#include <cmath>
#include <limits>
#include <optional>

using namespace mlir;

namespace attnjit::kernels {
namespace {

//===----------------------------------------------------------------------===//
// Geometry and config table
//===----------------------------------------------------------------------===//

/// Threads of the reduce and quantize kernels.
constexpr int kQuantThreads = 256;

struct SageGeometry {
  int headDim = 0;
  int blockM = 0, blockN = 0, numWarps = 0, stages = 0;
  int mTilesPerWarp = 0, threads = 0;
  int qkPitchChunks = 0; ///< 16-byte chunks per Q/K shared-memory row (4 or 8k)
  int vPitchChunks = 0;  ///< per V^T row: block_n bytes
  int qBytes = 0, kTileBytes = 0, vTileBytes = 0, smemBytes = 0;
  int qGroups = 0, kGroups = 0; ///< scale groups per Q block and per K block
  // reduce kernel: channel groups of 8 times row lanes
  int reduceRowLanes = 0, reduceThreads = 0, reduceSmem = 0;
  int quantKvSmem = 0, quantQSmem = 0;

  static std::string compute(const AttentionSpec &spec, SageGeometry &g);
};

/// The config table. Registers bound it: O (d / 2 fp32 per m-tile), S
/// (block_n / 2 per m-tile) and their 8-bit operands stay in registers, so
/// d > 64 takes one 16-row m-tile per warp, and d > 128 also takes 64-key
/// blocks (the quantize kernels then keep at most 64 values per thread).
KernelConfig sageSm80Config(const AttentionSpec &spec) {
  KernelConfig c = spec.config;
  KernelConfig def;
  if (spec.headDim <= 64)
    def = {128, 64, 4, 2};
  else if (spec.headDim <= 128)
    def = {128, 64, 8, 2};
  else
    def = {64, 64, 4, 2};
  if (c.blockM == 0) c.blockM = def.blockM;
  if (c.blockN == 0) c.blockN = def.blockN;
  if (c.numWarps == 0) c.numWarps = def.numWarps;
  if (c.stages == 0) c.stages = def.stages;
  return c;
}

std::string SageGeometry::compute(const AttentionSpec &spec, SageGeometry &g) {
  const KernelConfig &c = spec.config;
  if (!c.isComplete())
    return "config: incomplete (" + c.str() + ")";
  if (spec.variant != Variant::Sage)
    return fmt::format("variant: the sage recipe emits sage kernels, got {}",
                       toString(spec.variant));
  if (spec.dtype != DType::F16 && spec.dtype != DType::BF16)
    return fmt::format("dtype: sage takes f16 and bf16, got {}", toString(spec.dtype));
  if (!isSupportedFlashHeadDim(spec.headDim))
    return fmt::format("head_dim: sage supports 32, 64, 96, 128, 160, 192, 224, 256; got {}",
                       spec.headDim);
  g.headDim = spec.headDim;
  g.blockM = c.blockM;
  g.blockN = c.blockN;
  g.numWarps = c.numWarps;
  g.stages = c.stages;
  g.threads = 32 * c.numWarps;
  if (c.numWarps > 16)
    return fmt::format("config: at most 16 warps, got {}", c.numWarps);
  // 64 or 128 rows: the quantize kernels' 256 threads then split a tile
  // evenly (block_m * head_dim is a multiple of 256 * 8).
  if (c.blockM % (16 * c.numWarps) != 0 || (c.blockM != 64 && c.blockM != 128))
    return fmt::format("config: block_m ({}) must be 64 or 128 and a multiple of 16 * warps ({})",
                       c.blockM, 16 * c.numWarps);
  g.mTilesPerWarp = c.blockM / (16 * c.numWarps);
  // V^T rows are block_n bytes: 4 or 8 swizzle chunks.
  if (c.blockN != 64 && c.blockN != 128)
    return fmt::format("config: block_n must be 64 or 128 (V^T rows of 4 or 8 16-byte chunks), "
                       "got {}",
                       c.blockN);
  if (c.stages < 2 || c.stages > 4)
    return fmt::format("config: stages must be 2..4, got {}", c.stages);
  // The quantize kernels keep at most 64 values per thread.
  if (int64_t(c.blockM) * spec.headDim > 128 * 128 || int64_t(c.blockN) * spec.headDim > 128 * 128)
    return fmt::format("config: block_m and block_n times head_dim must be at most 16384 (the "
                       "quantize kernels hold a tile in registers), got {} and {} at head_dim {}",
                       c.blockM, c.blockN, spec.headDim);
  g.qkPitchChunks = spec.headDim <= 64 ? 4 : (spec.headDim / 16 + 7) / 8 * 8;
  g.vPitchChunks = c.blockN / 16;
  g.qBytes = c.blockM * g.qkPitchChunks * 16;
  g.kTileBytes = c.blockN * g.qkPitchChunks * 16;
  g.vTileBytes = 2 * spec.headDim * c.blockN; // V_hi and V_lo planes
  g.smemBytes = g.qBytes + c.stages * (g.kTileBytes + g.vTileBytes);
  if (int limit = archMaxSharedBytes(spec.arch); limit > 0 && g.smemBytes > limit)
    return fmt::format("config: {} needs {} bytes of shared memory, {} allows at most {}",
                       c.str(), g.smemBytes, spec.arch, limit);
  g.qGroups = sageQGroupsPerBlock(spec);
  g.kGroups = sageKGroupsPerBlock(spec);
  int channelGroups = spec.headDim / 8;
  int lanes = kQuantThreads / channelGroups, pow2 = 1;
  while (pow2 * 2 <= lanes)
    pow2 *= 2;
  g.reduceRowLanes = std::max(8, pow2);
  g.reduceThreads = channelGroups * g.reduceRowLanes;
  g.reduceSmem = 4 * g.reduceRowLanes * spec.headDim * 4;
  // quant_kv: mean, V max and 1 / f per channel, row maxima, group maxima, V^T tile.
  g.quantKvSmem = 3 * spec.headDim * 4 + c.blockN * 4 + 16 + 2 * spec.headDim * c.blockN;
  // quant_q: f and mean per channel, row maxima, row corrections, group maxima.
  g.quantQSmem = 2 * spec.headDim * 4 + 2 * c.blockM * 4 + g.qGroups * 4;
  return {};
}

//===----------------------------------------------------------------------===//
// Shared pieces of the four kernels
//===----------------------------------------------------------------------===//

class SageEmitterBase : public KernelBuilder {
public:
  SageEmitterBase(OpBuilder &b, Location loc, const AttentionSpec &spec, const SageGeometry &g)
      : KernelBuilder(b, loc), spec(spec), g(g), sm80(*this) {
    elt = spec.dtype == DType::F16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
  }

protected:
  /// Starts kernel `suffix` (entry spec.kernelName() + suffix) with `threads`
  /// and binds its dynamic shared memory.
  KernelFunction begin(gpu::GPUModuleOp module, const char *suffix, int threads) {
    std::string name = spec.kernelName() + suffix;
    declareDynamicSmem(name + "_smem", 16);
    fn = createKernel(module, name, kSageParams, threads);
    bindDynamicSmem(name + "_smem");
    tid = threadIdX();
    bx = blockId(gpu::Dimension::x);
    head = blockId(gpu::Dimension::y);
    batch = blockId(gpu::Dimension::z);
    return fn;
  }
  Value arg(const char *name) { return fn.arg(name); }

  /// Element pointer of (batch, row, head, col) of an input in q/k/v/o order.
  Value inputPtr(const char *t, Value h, Value row, Value col) {
    std::string n(t);
    Value off = arith::AddIOp::create(b, loc, mul(ext64(batch), arg((n + "_batch_stride").c_str())),
                                      mul(ext64(h), arg((n + "_head_stride").c_str())));
    off = arith::AddIOp::create(b, loc, off, mul(ext64(row), arg((n + "_row_stride").c_str())));
    off = arith::AddIOp::create(b, loc, off, ext64(col));
    return gepG(arg(t), mul(off, ci64(2)));
  }
  /// Eight consecutive input elements as fp32 (zeros where `ok` is false; the
  /// load then reads the tensor's base, which exists).
  SmallVector<Value, 8> load8(const char *t, Value h, Value row, Value col, Value ok) {
    Value p = inputPtr(t, h, select(ok, row, ci32(0)), select(ok, col, ci32(0)));
    Value v = LLVM::LoadOp::create(b, loc, VectorType::get({8}, elt), p, /*alignment=*/16);
    v = arith::ExtFOp::create(b, loc, VectorType::get({8}, f32), v);
    SmallVector<Value, 8> x;
    for (int e = 0; e < 8; ++e)
      x.push_back(select(ok, LLVM::ExtractElementOp::create(b, loc, v, ci32(e)).getResult(),
                         cf32(0.0)));
    return x;
  }
  Value loadF32(Value ptr) { return LLVM::LoadOp::create(b, loc, f32, ptr, 4); }
  void storeF32(Value v, Value ptr) { LLVM::StoreOp::create(b, loc, v, ptr, 4); }
  /// &base[index] of an fp32 array (index i64).
  Value f32At(Value base, Value index) { return gepG(base, mul(index, ci64(4))); }
  Value smemF32(Value byteOff) { return LLVM::LoadOp::create(b, loc, f32, gepS(byteOff), 4); }
  void smemStoreF32(Value v, Value byteOff) { LLVM::StoreOp::create(b, loc, v, gepS(byteOff), 4); }
  /// Shared-memory max of non-negative floats (their bits order as unsigned).
  void smemAtomicMax(Value byteOff, Value nonNeg) {
    Value bits = LLVM::BitcastOp::create(b, loc, i32, nonNeg);
    LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::umax, gepS(byteOff), bits,
                              LLVM::AtomicOrdering::monotonic);
  }
  void smemAtomicAdd(Value byteOff, Value x) {
    LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::fadd, gepS(byteOff), x,
                              LLVM::AtomicOrdering::monotonic);
  }
  /// |x| as max(x, -x): the GPU lowering takes llvm.intr.fabs for a libdevice call.
  Value fabs(Value x) { return fmax(x, fneg(x)); }
  Value fmin(Value x, Value y) { return LLVM::MinNumOp::create(b, loc, x, y); }
  Value posInf() { return cf32(std::numeric_limits<double>::infinity()); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value lt(Value x, Value y) { return cmpi(arith::CmpIPredicate::slt, x, y); }
  Value eq(Value x, Value y) { return cmpi(arith::CmpIPredicate::eq, x, y); }
  /// The INT8 scale of a group whose largest magnitude is `amax` (1 for an
  /// all-zero group, whose values quantize to 0 either way).
  Value int8Scale(Value amax) {
    Value zero = cmpf(arith::CmpFPredicate::OEQ, amax, cf32(0.0));
    return select(zero, cf32(1.0), fmul(amax, cf32(1.0 / 127.0)));
  }
  /// round(x * inv) as int8, eight at a time, stored as 8 bytes at `ptr`;
  /// returns the rounded values (as fp32).
  SmallVector<Value, 8> storeInt8x8(ArrayRef<Value> x, Value inv, Value ptr) {
    Value v = LLVM::PoisonOp::create(b, loc, VectorType::get({8}, i8));
    SmallVector<Value, 8> rounded;
    for (int e = 0; e < 8; ++e) {
      Value r = intrinsic("llvm.rint.f32", fmul(x[e], inv));
      rounded.push_back(r);
      Value q = arith::FPToSIOp::create(b, loc, i32, r);
      q = arith::TruncIOp::create(b, loc, i8, q);
      v = LLVM::InsertElementOp::create(b, loc, v, q, ci32(e));
    }
    LLVM::StoreOp::create(b, loc, LLVM::BitcastOp::create(b, loc, i64, v), ptr, 8);
    return rounded;
  }
  /// Runs body(it) for it in [0, count) of a thread-strided loop over `total`
  /// items (compile-time), guarding the last round when total % threads != 0.
  template <class F> void forItems(int total, int threads, F &&body) {
    for (int it = 0; it * threads < total; ++it) {
      Value idx = add(tid, ci32(it * threads));
      if ((it + 1) * threads <= total)
        body(it, idx);
      else
        ifThen(lt(idx, ci32(total)), [&] { body(it, idx); });
    }
  }

  const AttentionSpec &spec;
  const SageGeometry &g;
  Sm80Instructions sm80;
  Type elt;
  KernelFunction fn;
  Value tid, bx, head, batch;
};

//===----------------------------------------------------------------------===//
// Kernel 0: per-channel sums of K and max |V| per chunk of keys
//===----------------------------------------------------------------------===//

class SageReduceEmitter : public SageEmitterBase {
public:
  using SageEmitterBase::SageEmitterBase;

  void emit(gpu::GPUModuleOp module) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    begin(module, kSageKernelSuffixes[0], g.reduceThreads);
    const int D = g.headDim, G = D / 8, R = g.reduceRowLanes;
    Value kvHead = head;
    Value chunk = bx;
    Value seqK = arg("seqlen_k"), rowsPer = arg("reduce_rows");
    Value start = mul(chunk, rowsPer);
    Value end = minsi(add(start, rowsPer), seqK);
    Value grp = remui(tid, G), lane = divui(tid, G);
    Value col = mul(grp, ci32(8));

    // Per channel of the thread's 8: sum, max and min of K, max |V|.
    SmallVector<Value> init(8, cf32(0.0));
    init.append(8, negInf());
    init.append(8, posInf());
    init.append(8, cf32(0.0));
    auto loop = scf::ForOp::create(b, loc, add(start, lane), end, ci32(R), init);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(loop.getBody());
      Value row = loop.getInductionVar();
      ValueRange it = loop.getRegionIterArgs();
      // Rows below `end` exist.
      Value all = arith::ConstantIntOp::create(b, loc, i1, 1);
      SmallVector<Value, 8> kx = load8("k", kvHead, row, col, all);
      SmallVector<Value, 8> vx = load8("v", kvHead, row, col, all);
      SmallVector<Value> next;
      for (int e = 0; e < 8; ++e)
        next.push_back(fadd(it[e], kx[e]));
      for (int e = 0; e < 8; ++e)
        next.push_back(fmax(it[8 + e], kx[e]));
      for (int e = 0; e < 8; ++e)
        next.push_back(fmin(it[16 + e], kx[e]));
      for (int e = 0; e < 8; ++e)
        next.push_back(fmax(it[24 + e], fabs(vx[e])));
      scf::YieldOp::create(b, loc, next);
    }
    // Per thread: its 8 channels of each statistic at [stat][lane][col + e]
    // of four [R][D] arrays.
    for (int st = 0; st < 4; ++st)
      for (int e = 0; e < 8; ++e) {
        Value off = mul(add(mul(lane, ci32(D)), add(col, ci32(e))), ci32(4));
        smemStoreF32(loop.getResult(st * 8 + e), add(off, ci32(st * R * D * 4)));
      }
    sm80.barrier();
    ifThen(lt(tid, ci32(D)), [&] {
      Value sum = cf32(0.0), kmax = negInf(), kmin = posInf(),
            vmax = cf32(0.0);
      for (int r = 0; r < R; ++r) {
        Value off = mul(add(ci32(r * D), tid), ci32(4));
        sum = fadd(sum, smemF32(off));
        kmax = fmax(kmax, smemF32(add(off, ci32(R * D * 4))));
        kmin = fmin(kmin, smemF32(add(off, ci32(2 * R * D * 4))));
        vmax = fmax(vmax, smemF32(add(off, ci32(3 * R * D * 4))));
      }
      Value bkv = add(mul(batch, arg("num_kv_heads")), kvHead);
      Value part = add(mul(bkv, arg("reduce_chunks")), chunk);
      Value idx = ext64(add(mul(part, ci32(D)), tid));
      storeF32(sum, f32At(arg("k_sum_part"), idx));
      storeF32(vmax, f32At(arg("v_max_part"), idx));
      Value ridx = ext64(add(mul(part, ci32(2 * D)), tid));
      storeF32(kmax, f32At(arg("k_range_part"), ridx));
      storeF32(kmin, f32At(arg("k_range_part"), add(ridx, ci64(D))));
    });
    gpu::ReturnOp::create(b, loc);
  }
};

//===----------------------------------------------------------------------===//
// Kernel 1: K to INT8 (smoothed), V to FP8 transposed, one key block per CTA
//===----------------------------------------------------------------------===//

class SageQuantKvEmitter : public SageEmitterBase {
public:
  using SageEmitterBase::SageEmitterBase;

  void emit(gpu::GPUModuleOp module) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    begin(module, kSageKernelSuffixes[1], kQuantThreads);
    const int D = g.headDim, G = D / 8, BN = g.blockN, T = kQuantThreads;
    // Shared memory: mean[D], vmax[D], 1 / f[D], rowMax[BN], groupMax[4],
    // V_hi^T and V_lo^T [D][BN].
    const int vmaxOff = D * 4, invFOff = 2 * D * 4, rowMaxOff = 3 * D * 4,
              groupOff = rowMaxOff + BN * 4, vtOff = groupOff + 16;
    Value kvHead = head;
    Value seqK = arg("seqlen_k"), seqKPad = arg("seqlen_k_pad");
    Value bkv = add(mul(batch, arg("num_kv_heads")), kvHead);

    // Channel statistics from the reduce kernel's partials: the mean, the
    // channel factor and V's scale.
    ifThen(lt(tid, ci32(D)), [&] {
      Value chunks = arg("reduce_chunks");
      Value part0 = mul(bkv, chunks);
      auto loop = scf::ForOp::create(b, loc, ci32(0), chunks, ci32(1),
                                     ValueRange{cf32(0.0), cf32(0.0), negInf(), posInf()});
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(loop.getBody());
        Value part = add(part0, loop.getInductionVar());
        ValueRange it = loop.getRegionIterArgs();
        Value idx = ext64(add(mul(part, ci32(D)), tid));
        Value ridx = ext64(add(mul(part, ci32(2 * D)), tid));
        Value s = fadd(it[0], loadF32(f32At(arg("k_sum_part"), idx)));
        Value m = fmax(it[1], loadF32(f32At(arg("v_max_part"), idx)));
        Value hi = fmax(it[2], loadF32(f32At(arg("k_range_part"), ridx)));
        Value lo = fmin(it[3], loadF32(f32At(arg("k_range_part"), add(ridx, ci64(D)))));
        scf::YieldOp::create(b, loc, ValueRange{s, m, hi, lo});
      }
      Value trueMean = fdiv(loop.getResult(0), arith::SIToFPOp::create(b, loc, f32, seqK));
      Value mean = spec.smoothK ? trueMean : cf32(0.0);
      Value vmax = loop.getResult(1);
      // f_c = sqrt(max |K'_c|) (1 for a constant channel): K'_c / f_c has the
      // square root of the channel's range, Q_c f_c takes the other root, so
      // a channel r times larger than the rest costs each operand's INT8
      // scale sqrt(r), not K's alone r (docs/SAGE.md, "Outlier channels").
      Value amax = fmax(arith::SubFOp::create(b, loc, loop.getResult(2), mean),
                        arith::SubFOp::create(b, loc, mean, loop.getResult(3)));
      Value positive = cmpf(arith::CmpFPredicate::OGT, amax, cf32(0.0));
      Value f = select(positive, intrinsic("llvm.sqrt.f32", select(positive, amax, cf32(1.0))),
                       cf32(1.0));
      smemStoreF32(mean, mul(tid, ci32(4)));
      smemStoreF32(vmax, add(ci32(vmaxOff), mul(tid, ci32(4))));
      smemStoreF32(fdiv(cf32(1.0), f), add(ci32(invFOff), mul(tid, ci32(4))));
      ifThen(eq(bx, ci32(0)), [&] {
        Value zero = cmpf(arith::CmpFPredicate::OEQ, vmax, cf32(0.0));
        Value scale = select(zero, cf32(1.0), fmul(vmax, cf32(1.0 / kSageFp8Max)));
        storeF32(scale, f32At(arg("v_scale"), ext64(add(mul(bkv, ci32(D)), tid))));
        Value chan = ext64(add(mul(bkv, ci32(2 * D)), tid));
        storeF32(f, f32At(arg("k_chan"), chan));
        storeF32(trueMean, f32At(arg("k_chan"), add(chan, ci64(D))));
      });
    });
    forItems(BN, T, [&](int, Value i) { smemStoreF32(cf32(0.0), add(ci32(rowMaxOff), mul(i, ci32(4)))); });
    ifThen(lt(tid, ci32(4)), [&] { smemStoreF32(cf32(0.0), add(ci32(groupOff), mul(tid, ci32(4)))); });
    sm80.barrier();

    // Pass 1: (K - mean) / f into registers, row maxima; V to FP8 into V^T.
    const int items = BN * G / T;
    SmallVector<SmallVector<Value, 8>> kv(items);
    SmallVector<Value> rows(items), cols(items), keys(items);
    for (int it = 0; it < items; ++it) {
      Value idx = add(tid, ci32(it * T));
      Value row = divui(idx, G), col = mul(remui(idx, G), ci32(8));
      Value key = add(mul(bx, ci32(BN)), row);
      Value ok = lt(key, seqK);
      rows[it] = row;
      cols[it] = col;
      keys[it] = key;
      SmallVector<Value, 8> x = load8("k", kvHead, key, col, ok);
      Value amax = cf32(0.0);
      for (int e = 0; e < 8; ++e) {
        Value c = mul(add(col, ci32(e)), ci32(4));
        Value mean = smemF32(c), invF = smemF32(add(ci32(invFOff), c));
        x[e] = select(ok, fmul(arith::SubFOp::create(b, loc, x[e], mean), invF), cf32(0.0));
        amax = fmax(amax, fabs(x[e]));
      }
      kv[it] = x;
      smemAtomicMax(add(ci32(rowMaxOff), mul(row, ci32(4))), amax);

      // V: e4m3 of x = v * 448 / max|V[:, d]| (V_hi) and of 16 (x - V_hi)
      // (V_lo), at V^T[d][position of the key].
      SmallVector<Value, 8> v = load8("v", kvHead, key, col, ok);
      Value m = remui(row, 16);
      Value pos = add(sub(row, m),
                      add(add(mul(divui(remui(m, 8), 2), ci32(4)), remui(m, 2)),
                          mul(divui(m, 8), ci32(2))));
      for (int e = 0; e < 8; e += 2) {
        Value s[2];
        for (int x2 = 0; x2 < 2; ++x2) {
          Value vmax = smemF32(add(ci32(vmaxOff), mul(add(col, ci32(e + x2)), ci32(4))));
          Value zero = cmpf(arith::CmpFPredicate::OEQ, vmax, cf32(0.0));
          Value inv = select(zero, cf32(0.0), fdiv(cf32(kSageFp8Max), vmax));
          s[x2] = fmul(v[e + x2], inv);
        }
        Value hiPair = sm80.cvtE4m3x2(s[0], s[1]);
        auto [r0, r1] = sm80.e4m3x2ToF32(hiPair);
        Value loPair = sm80.cvtE4m3x2(fmul(arith::SubFOp::create(b, loc, s[0], r0), cf32(16.0)),
                                      fmul(arith::SubFOp::create(b, loc, s[1], r1), cf32(16.0)));
        Value d0 = add(col, ci32(e));
        Value off0 = add(ci32(vtOff), add(mul(d0, ci32(BN)), pos));
        for (int plane = 0; plane < 2; ++plane) {
          Value pair = plane == 0 ? hiPair : loPair;
          Value first = arith::TruncIOp::create(b, loc, i8, pair);
          Value second = arith::TruncIOp::create(
              b, loc, i8,
              arith::ShRUIOp::create(b, loc, pair, arith::ConstantIntOp::create(b, loc, i16, 8)));
          Value off = add(off0, ci32(plane * D * BN));
          LLVM::StoreOp::create(b, loc, first, gepS(off), 1);
          LLVM::StoreOp::create(b, loc, second, gepS(add(off, ci32(BN))), 1);
        }
      }
    }
    sm80.barrier();

    // Group maxima: the key block, or (per_thread) its keys with equal
    // (key % 8) / 2, which one thread of an MMA quad holds.
    auto kGroup = [&](Value row) {
      return g.kGroups == 1 ? ci32(0) : divui(remui(row, 8), 2);
    };
    forItems(BN, T, [&](int, Value r) {
      smemAtomicMax(add(ci32(groupOff), mul(kGroup(r), ci32(4))),
                    smemF32(add(ci32(rowMaxOff), mul(r, ci32(4)))));
    });
    sm80.barrier();
    Value nBlk = divui(seqKPad, BN);
    ifThen(lt(tid, ci32(g.kGroups)), [&] {
      Value amax = smemF32(add(ci32(groupOff), mul(tid, ci32(4))));
      Value idx = ext64(add(mul(add(mul(bkv, nBlk), bx), ci32(g.kGroups)), tid));
      storeF32(int8Scale(amax), f32At(arg("k_scale"), idx));
    });
    for (int it = 0; it < items; ++it) {
      Value amax = smemF32(add(ci32(groupOff), mul(kGroup(rows[it]), ci32(4))));
      Value inv = fdiv(cf32(1.0), int8Scale(amax));
      Value off = arith::AddIOp::create(
          b, loc, mul(add(mul(ext64(bkv), ext64(seqKPad)), ext64(keys[it])), ci64(D)),
          ext64(cols[it]));
      storeInt8x8(kv[it], inv, gepG(arg("k_i8"), off));
    }

    // V^T rows (plane, d) to v_f8 [bkv][plane][d][keys], 16 bytes at a time.
    const int cpr = BN / 16;
    forItems(2 * D * cpr, T, [&](int, Value i) {
      Value row = divui(i, cpr), ch = remui(i, cpr); // row = plane * D + d
      Value src = add(ci32(vtOff), add(mul(row, ci32(BN)), mul(ch, ci32(16))));
      Value val = LLVM::LoadOp::create(b, loc, VectorType::get({4}, i32), gepS(src), 16);
      Value off = arith::AddIOp::create(
          b, loc, mul(add(mul(ext64(bkv), ci64(2 * D)), ext64(row)), ext64(seqKPad)),
          ext64(add(mul(bx, ci32(BN)), mul(ch, ci32(16)))));
      LLVM::StoreOp::create(b, loc, val, gepG(arg("v_f8"), off), 16);
    });
    gpu::ReturnOp::create(b, loc);
  }
};

//===----------------------------------------------------------------------===//
// Kernel 2: Q to INT8, one query block per CTA
//===----------------------------------------------------------------------===//

class SageQuantQEmitter : public SageEmitterBase {
public:
  using SageEmitterBase::SageEmitterBase;

  void emit(gpu::GPUModuleOp module) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    begin(module, kSageKernelSuffixes[2], kQuantThreads);
    const int D = g.headDim, G = D / 8, BM = g.blockM, T = kQuantThreads;
    // Shared memory: f[D], mean[D], rowMax[BM], rowCorr[BM], groupMax[gQ].
    const int meanOff = D * 4, rowMaxOff = 2 * D * 4, rowCorrOff = rowMaxOff + BM * 4,
              groupOff = rowCorrOff + BM * 4;
    const bool lse = spec.returnLse;
    Value seqQ = arg("seqlen_q"), seqQPad = arg("seqlen_q_pad");
    Value kvHead = arith::DivUIOp::create(b, loc, head, arg("head_ratio"));
    Value bh = add(mul(batch, arg("num_heads")), head);
    Value bkv = add(mul(batch, arg("num_kv_heads")), kvHead);

    // K's channel factors (Q_c is multiplied by f_c, K'_c divided by it) and,
    // for the LSE, K's mean, as quant_kv computed them.
    ifThen(lt(tid, ci32(D)), [&] {
      Value chan = ext64(add(mul(bkv, ci32(2 * D)), tid));
      smemStoreF32(loadF32(f32At(arg("k_chan"), chan)), mul(tid, ci32(4)));
      if (lse)
        smemStoreF32(loadF32(f32At(arg("k_chan"), add(chan, ci64(D)))),
                     add(ci32(meanOff), mul(tid, ci32(4))));
    });
    forItems(BM, T, [&](int, Value i) {
      smemStoreF32(cf32(0.0), add(ci32(rowMaxOff), mul(i, ci32(4))));
      smemStoreF32(cf32(0.0), add(ci32(rowCorrOff), mul(i, ci32(4))));
    });
    forItems(g.qGroups, T, [&](int, Value i) {
      smemStoreF32(cf32(0.0), add(ci32(groupOff), mul(i, ci32(4))));
    });
    sm80.barrier();

    const int items = BM * G / T;
    SmallVector<SmallVector<Value, 8>> qv(items);
    SmallVector<Value> rows(items), cols(items), qrows(items);
    for (int it = 0; it < items; ++it) {
      Value idx = add(tid, ci32(it * T));
      Value row = divui(idx, G), col = mul(remui(idx, G), ci32(8));
      Value qrow = add(mul(bx, ci32(BM)), row);
      Value ok = lt(qrow, seqQ);
      rows[it] = row;
      cols[it] = col;
      qrows[it] = qrow;
      SmallVector<Value, 8> x = load8("q", head, qrow, col, ok);
      Value amax = cf32(0.0), dot = cf32(0.0);
      for (int e = 0; e < 8; ++e) {
        Value c = mul(add(col, ci32(e)), ci32(4));
        // With smooth_k the scores miss q . mean exactly (Q unquantized).
        if (lse && spec.smoothK)
          dot = fma(x[e], smemF32(add(ci32(meanOff), c)), dot);
        x[e] = fmul(x[e], smemF32(c));
        amax = fmax(amax, fabs(x[e]));
      }
      qv[it] = x;
      smemAtomicMax(add(ci32(rowMaxOff), mul(row, ci32(4))), amax);
      if (lse && spec.smoothK)
        smemAtomicAdd(add(ci32(rowCorrOff), mul(row, ci32(4))), dot);
    }
    sm80.barrier();

    // Groups: the block, the warp's rows, or rows i and i + 8 of a 16-row tile.
    auto qGroup = [&](Value r) -> Value {
      switch (spec.granularity) {
      case Granularity::PerBlock: return ci32(0);
      case Granularity::PerWarp: return divui(r, BM / g.numWarps);
      case Granularity::PerThread: return add(mul(divui(r, 16), ci32(8)), remui(r, 8));
      }
      return ci32(0);
    };
    forItems(BM, T, [&](int, Value r) {
      smemAtomicMax(add(ci32(groupOff), mul(qGroup(r), ci32(4))),
                    smemF32(add(ci32(rowMaxOff), mul(r, ci32(4)))));
    });
    sm80.barrier();
    Value nBlk = divui(seqQPad, BM);
    forItems(g.qGroups, T, [&](int, Value i) {
      Value amax = smemF32(add(ci32(groupOff), mul(i, ci32(4))));
      Value idx = ext64(add(mul(add(mul(bh, nBlk), bx), ci32(g.qGroups)), i));
      storeF32(fmul(int8Scale(amax), arg("scale_log2")), f32At(arg("q_scale"), idx));
    });
    for (int it = 0; it < items; ++it) {
      Value amax = smemF32(add(ci32(groupOff), mul(qGroup(rows[it]), ci32(4))));
      Value scale = int8Scale(amax);
      Value inv = fdiv(cf32(1.0), scale);
      Value off = arith::AddIOp::create(
          b, loc, mul(add(mul(ext64(bh), ext64(seqQPad)), ext64(qrows[it])), ci64(D)),
          ext64(cols[it]));
      SmallVector<Value, 8> r = storeInt8x8(qv[it], inv, gepG(arg("q_i8"), off));
      if (lse && !spec.smoothK) {
        // Without smooth_k the scores carry K's mean through INT8 Q: Q's
        // rounding error times the mean shifts every score of the row by the
        // same amount. Softmax does not see it, the LSE does (with a common
        // offset of 8 in K, 0.2 of the LSE's value); this adds it back:
        // sum_c (Q'_c - round(Q'_c / s) s) mean_c / f_c.
        Value dot = cf32(0.0);
        for (int e = 0; e < 8; ++e) {
          Value c = mul(add(cols[it], ci32(e)), ci32(4));
          Value lost = arith::SubFOp::create(b, loc, qv[it][e], fmul(r[e], scale));
          dot = fma(lost, fdiv(smemF32(add(ci32(meanOff), c)), smemF32(c)), dot);
        }
        smemAtomicAdd(add(ci32(rowCorrOff), mul(rows[it], ci32(4))), dot);
      }
    }
    if (lse) {
      sm80.barrier();
      // The row's correction in natural-log units: softmax_scale times it.
      forItems(BM, T, [&](int, Value r) {
        Value corr = fmul(smemF32(add(ci32(rowCorrOff), mul(r, ci32(4)))),
                          fmul(arg("scale_log2"), cf32(std::log(2.0))));
        Value idx = ext64(add(mul(bh, seqQPad), add(mul(bx, ci32(BM)), r)));
        storeF32(corr, f32At(arg("q_kmean"), idx));
      });
    }
    gpu::ReturnOp::create(b, loc);
  }
};

//===----------------------------------------------------------------------===//
// Kernel 3: attention on the quantized operands
//===----------------------------------------------------------------------===//

class SageAttendEmitter : public SageEmitterBase {
public:
  SageAttendEmitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const SageGeometry &g)
      : SageEmitterBase(b, loc, spec, g), qk(*this, g.qkPitchChunks), vt(*this, g.vPitchChunks),
        at{*this, AccFragment{g.mTilesPerWarp, g.blockN / 8}, Value(), Value(), Value(), g.blockN} {}

  void emit(gpu::GPUModuleOp module);

private:
  /// Copies `rows` rows of `chunks` 16-byte chunks from `src` (row pitch
  /// `pitchBytes`, i64) to the swizzled tile at `smemOff` of `layout`.
  void copyTile(SwizzledTileLayout &layout, Value src, Value pitchBytes, int rows, int chunks,
                Value smemOff) {
    forItems(rows * chunks, g.threads, [&](int, Value i) {
      Value row = divui(i, chunks), ch = remui(i, chunks);
      Value gsrc = gepG(src, arith::AddIOp::create(b, loc, mul(ext64(row), pitchBytes),
                                                   ext64(mul(ch, ci32(16)))));
      sm80.cpAsync(gepS(add(smemOff, layout.offset(row, ch))), gsrc, 16, ci32(16));
    });
  }
  Value kSlot(Value slot) { return add(ci32(g.qBytes), mul(slot, ci32(g.kTileBytes))); }
  Value vSlot(Value slot) {
    return add(ci32(g.qBytes + g.stages * g.kTileBytes), mul(slot, ci32(g.vTileBytes)));
  }
  void loadKVBlockAndCommit(Value blk, Value slot) {
    ifThen(lt(blk, nEnd), [&] {
      Value kSrc = gepG(kI8Base, mul(ext64(mul(blk, ci32(g.blockN))), ci64(g.headDim)));
      copyTile(qk, kSrc, ci64(g.headDim), g.blockN, g.headDim / 16, kSlot(slot));
      // V_hi^T and V_lo^T: D rows each, one plane after the other.
      Value pitch = ext64(arg("seqlen_k_pad"));
      Value vSrc = gepG(vF8Base, ext64(mul(blk, ci32(g.blockN))));
      copyTile(vt, vSrc, pitch, g.headDim, g.blockN / 16, vSlot(slot));
      copyTile(vt, gepG(vSrc, mul(pitch, ci64(g.headDim))), pitch, g.headDim, g.blockN / 16,
               add(vSlot(slot), ci32(g.vTileBytes / 2)));
    });
    sm80.cpAsyncCommit();
  }
  void emitBlock(Value n, bool masked, SmallVector<Value> &acc, SmallVector<Value> &rowMax,
                 SmallVector<Value> &rowSum);

  SwizzledTileLayout qk, vt;
  FragmentCoords at;
  std::optional<OnlineSoftmax> softmax;
  Value lane, warp, seqQ, seqK, causalOffset, m0, nEnd;
  Value kI8Base, vF8Base, kScaleBase;
  SmallVector<Value> qScale; ///< per row slot
  SwizzledTileLayout::LdmBases qLdm, kLdm, vLdm;
};

void SageAttendEmitter::emitBlock(Value n, bool masked, SmallVector<Value> &acc,
                                  SmallVector<Value> &rowMax, SmallVector<Value> &rowSum) {
  const int MT = g.mTilesPerWarp, NT = g.blockN / 8, DT = g.headDim / 8, KS = g.headDim / 32;
  const AccFragment &sf = at.frag;

  // This block's K scale: the block's, or that of the thread's key quarter.
  Value kIdx = add(mul(n, ci32(g.kGroups)), g.kGroups == 1 ? ci32(0) : andi(lane, 3));
  Value kScale = loadF32(f32At(kScaleBase, ext64(kIdx)));

  sm80.cpAsyncWait(g.stages - 2);
  sm80.barrier();
  Value next = add(n, ci32(g.stages - 1));
  loadKVBlockAndCommit(next, remui(next, g.stages));
  Value slot = remui(n, g.stages);
  Value kTile = kSlot(slot), vTile = vSlot(slot);

  // S = Q K^T in int32: 32 channels (bytes) per MMA.
  SmallVector<Value> si(sf.size(), ci32(0));
  for (int ks = 0; ks < KS; ++ks) {
    SmallVector<SmallVector<Value, 4>> qa;
    for (int mt = 0; mt < MT; ++mt)
      qa.push_back(sm80.ldmatrix4(qk.ldmOffset(qLdm, Value(), mt * 16, 2 * ks), false));
    for (int jp = 0; jp < NT / 2; ++jp) {
      SmallVector<Value, 4> kb = sm80.ldmatrix4(qk.ldmOffset(kLdm, kTile, jp * 16, 2 * ks), false);
      for (int mt = 0; mt < MT; ++mt)
        for (int h = 0; h < 2; ++h) {
          MutableArrayRef<Value> c(&si[(mt * NT + 2 * jp + h) * 4], 4);
          sm80.mma(MmaOperand::S8, qa[mt], {kb[2 * h], kb[2 * h + 1]}, c);
        }
    }
  }
  // Dequantize: q_scale (with softmax_scale * log2 e) times k_scale.
  SmallVector<Value> s(sf.size());
  for (int r = 0; r < sf.rows(); ++r) {
    Value f = fmul(qScale[r], kScale);
    for (int j = 0; j < NT; ++j)
      for (int e = 0; e < 2; ++e) {
        int i = sf.index(r, j, e);
        s[i] = fmul(arith::SIToFPOp::create(b, loc, f32, si[i]), f);
      }
  }
  if (masked) {
    maskColumnsFrom(*this, at, n, s, [&](int r) {
      Value limit = seqK;
      if (spec.causal)
        limit = minsi(limit, add(add(at.row(r), ci32(1)), causalOffset));
      return limit;
    });
  }

  SmallVector<Value> blockMax = softmax->blockMax(s, rowMax);
  softmax->rescale(blockMax, rowMax, rowSum, acc);
  // P in [0, 1] (no rescale slack), scaled to e4m3's range: each column
  // pair as P_hi and P_lo (e4m3 of 16 times what P_hi lost), i16 each.
  SmallVector<Value> pHi(sf.rows() * NT), pLo(sf.rows() * NT);
  softmax->exponentiate(s, rowMax, rowSum, [&](int r, int j, Value(&e)[2]) {
    Value x0 = fmul(e[0], cf32(kSageFp8Max)), x1 = fmul(e[1], cf32(kSageFp8Max));
    Value hi = sm80.cvtE4m3x2(x0, x1);
    auto [d0, d1] = sm80.e4m3x2ToF32(hi);
    pHi[r * NT + j] = hi;
    pLo[r * NT + j] = sm80.cvtE4m3x2(fmul(arith::SubFOp::create(b, loc, x0, d0), cf32(16.0)),
                                     fmul(arith::SubFOp::create(b, loc, x1, d1), cf32(16.0)));
  });
  // A operands: per m-tile and 32-key step, registers (row, keys of tiles
  // 4ks, 4ks + 1), (row + 8, same), (row, tiles 4ks + 2, 4ks + 3), (row + 8, same).
  auto aFrag = [&](const SmallVector<Value> &pp, int mt, int ks) {
    SmallVector<Value, 4> a;
    for (int jp = 0; jp < 2; ++jp)
      for (int half = 0; half < 2; ++half) {
        int r = mt * 2 + half, j0 = 4 * ks + 2 * jp;
        a.push_back(sm80.packI16x2(pp[r * NT + j0], pp[r * NT + j0 + 1]));
      }
    return a;
  };
  SmallVector<SmallVector<Value, 4>> pa, pl;
  for (int mt = 0; mt < MT; ++mt)
    for (int ks = 0; ks < g.blockN / 32; ++ks) {
      pa.push_back(aFrag(pHi, mt, ks));
      pl.push_back(aFrag(pLo, mt, ks));
    }

  // O += P V: V^T rows are channels; each pair of 8-channel tiles takes the
  // block's keys in 32-key steps.
  // The large term P_hi V_hi goes to a fresh accumulator per block (fp32_fp32)
  // or to O (fp32); the two small ones share one, added at 1/16.
  const bool twoLevel = spec.pvAccum == PvAccum::Fp32Fp32;
  const int KP = g.blockN / 32;
  for (int dp = 0; dp < DT / 2; ++dp) {
    SmallVector<Value> tmp(MT * 2 * 4, cf32(0.0)), small(MT * 2 * 4, cf32(0.0));
    for (int ks = 0; ks < KP; ++ks) {
      SmallVector<Value, 4> vh = sm80.ldmatrix4(vt.ldmOffset(vLdm, vTile, dp * 16, 2 * ks), false);
      SmallVector<Value, 4> vl = sm80.ldmatrix4(
          vt.ldmOffset(vLdm, add(vTile, ci32(g.vTileBytes / 2)), dp * 16, 2 * ks), false);
      for (int mt = 0; mt < MT; ++mt)
        for (int h = 0; h < 2; ++h) {
          int d = 2 * dp + h;
          MutableArrayRef<Value> c = twoLevel ? MutableArrayRef<Value>(&tmp[(mt * 2 + h) * 4], 4)
                                              : MutableArrayRef<Value>(&acc[(mt * DT + d) * 4], 4);
          MutableArrayRef<Value> cs(&small[(mt * 2 + h) * 4], 4);
          sm80.mma(MmaOperand::E4M3, pa[mt * KP + ks], {vh[2 * h], vh[2 * h + 1]}, c);
          sm80.mma(MmaOperand::E4M3, pl[mt * KP + ks], {vh[2 * h], vh[2 * h + 1]}, cs);
          sm80.mma(MmaOperand::E4M3, pa[mt * KP + ks], {vl[2 * h], vl[2 * h + 1]}, cs);
        }
    }
    for (int mt = 0; mt < MT; ++mt)
      for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 4; ++e) {
          Value &o = acc[(mt * DT + 2 * dp + h) * 4 + e];
          Value sm = fmul(small[(mt * 2 + h) * 4 + e], cf32(1.0 / 16.0));
          o = fadd(o, twoLevel ? fadd(tmp[(mt * 2 + h) * 4 + e], sm) : sm);
        }
  }
}

void SageAttendEmitter::emit(gpu::GPUModuleOp module) {
  const int MT = g.mTilesPerWarp, DT = g.headDim / 8, D = g.headDim;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  begin(module, kSageKernelSuffixes[3], g.threads);
  lane = andi(tid, 31);
  warp = shrui(tid, 5);
  seqQ = arg("seqlen_q");
  seqK = arg("seqlen_k");
  causalOffset = sub(seqK, seqQ); // bottom-right, as flash
  Value numMBlocks = gridDim(gpu::Dimension::x);
  Value mBlock = spec.causal ? sub(sub(numMBlocks, ci32(1)), bx) : bx;
  m0 = mul(mBlock, ci32(g.blockM));
  at.lane = lane;
  at.warp = warp;
  at.m0 = m0;
  // Scores come out of the dequantization in the scaled log2 domain.
  softmax.emplace(*this, at.frag, AccFragment{MT, DT}, cf32(1.0), /*rescaleSlack=*/0.0);

  Value kvHead = arith::DivUIOp::create(b, loc, head, arg("head_ratio"));
  Value bh = add(mul(batch, arg("num_heads")), head);
  Value bkv = add(mul(batch, arg("num_kv_heads")), kvHead);
  Value seqQPad = arg("seqlen_q_pad"), seqKPad = arg("seqlen_k_pad");
  Value qSrc = gepG(arg("q_i8"), mul(add(mul(ext64(bh), ext64(seqQPad)), ext64(m0)), ci64(D)));
  kI8Base = gepG(arg("k_i8"), mul(mul(ext64(bkv), ext64(seqKPad)), ci64(D)));
  vF8Base = gepG(arg("v_f8"), mul(mul(ext64(bkv), ci64(2 * D)), ext64(seqKPad)));
  Value nBlkK = divui(seqKPad, g.blockN);
  kScaleBase = f32At(arg("k_scale"), ext64(mul(mul(bkv, nBlkK), ci32(g.kGroups))));

  // Key blocks [0, nEnd); from nNoMask on they need masking (as flash).
  Value nBlocksK = arith::CeilDivSIOp::create(b, loc, seqK, ci32(g.blockN));
  Value nNoMask = arith::DivSIOp::create(b, loc, seqK, ci32(g.blockN));
  nEnd = nBlocksK;
  if (spec.causal) {
    Value lastRow = minsi(add(m0, ci32(g.blockM)), seqQ);
    Value causalEnd =
        arith::CeilDivSIOp::create(b, loc, add(lastRow, causalOffset), ci32(g.blockN));
    nEnd = maxsi(minsi(nEnd, causalEnd), ci32(0));
    Value causalNoMask =
        arith::FloorDivSIOp::create(b, loc, add(add(m0, causalOffset), ci32(1)), ci32(g.blockN));
    nNoMask = minsi(nNoMask, causalNoMask);
  }
  nNoMask = maxsi(minsi(nNoMask, nEnd), ci32(0));

  // Per row slot: Q's scale (the block's, the warp's, or the thread's pair of rows).
  Value nBlkQ = divui(seqQPad, g.blockM);
  Value qScaleBase = f32At(arg("q_scale"), ext64(mul(add(mul(bh, nBlkQ), mBlock), ci32(g.qGroups))));
  for (int r = 0; r < at.frag.rows(); ++r) {
    Value grp;
    switch (spec.granularity) {
    case Granularity::PerBlock: grp = ci32(0); break;
    case Granularity::PerWarp: grp = warp; break;
    case Granularity::PerThread:
      grp = add(mul(add(mul(warp, ci32(MT)), ci32(r / 2)), ci32(8)), shrui(lane, 2));
      break;
    }
    qScale.push_back(loadF32(f32At(qScaleBase, ext64(grp))));
  }

  // ldmatrix addressing (the flash recipe's): Q rows lane % 16 at chunk
  // lane / 16; K and V^T rows 8 ((lane / 16) % 2) + lane % 8 at chunk (lane / 8) % 2.
  Value rowBytes = ci32(qk.rowBytes());
  Value qRowLocal = andi(lane, 15);
  qLdm = qk.ldmBases(mul(add(mul(warp, ci32(16 * MT)), qRowLocal), rowBytes),
                     qk.ldmXorTerm(qRowLocal, shrui(lane, 4)));
  Value bRowLocal = add(mul(andi(shrui(lane, 4), 1), ci32(8)), andi(lane, 7));
  kLdm = qk.ldmBases(mul(bRowLocal, rowBytes), qk.ldmXorTerm(bRowLocal, andi(shrui(lane, 3), 1)));
  vLdm = vt.ldmBases(mul(bRowLocal, ci32(vt.rowBytes())),
                     vt.ldmXorTerm(bRowLocal, andi(shrui(lane, 3), 1)));

  copyTile(qk, qSrc, ci64(D), g.blockM, D / 16, ci32(0));
  for (int st = 0; st < g.stages - 1; ++st)
    loadKVBlockAndCommit(ci32(st), ci32(st));

  SmallVector<Value> init(MT * DT * 4, cf32(0.0));
  for (int r = 0; r < MT * 2; ++r)
    init.push_back(negInf());
  for (int r = 0; r < MT * 2; ++r)
    init.push_back(cf32(0.0));
  auto emitLoop = [&](Value lb, Value ub, bool masked, ValueRange state) -> SmallVector<Value> {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, ci32(1), state);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(forOp.getBody());
    ValueRange it = forOp.getRegionIterArgs();
    SmallVector<Value> acc(it.begin(), it.begin() + MT * DT * 4);
    SmallVector<Value> rowMax(it.begin() + MT * DT * 4, it.begin() + MT * DT * 4 + MT * 2);
    SmallVector<Value> rowSum(it.begin() + MT * DT * 4 + MT * 2, it.end());
    emitBlock(forOp.getInductionVar(), masked, acc, rowMax, rowSum);
    SmallVector<Value> yield = acc;
    yield.append(rowMax);
    yield.append(rowSum);
    scf::YieldOp::create(b, loc, yield);
    return SmallVector<Value>(forOp.getResults());
  };
  SmallVector<Value> state = emitLoop(ci32(0), nNoMask, /*masked=*/false, init);
  state = emitLoop(nNoMask, nEnd, /*masked=*/true, state);
  sm80.cpAsyncWait(0);

  // Epilogue: O * v_scale[d] / 448 / l, stored in the input dtype.
  Value colBase = mul(andi(lane, 3), ci32(2));
  SmallVector<Value> vScale;
  Value vScaleBase = f32At(arg("v_scale"), ext64(mul(bkv, ci32(D))));
  for (int d = 0; d < DT; ++d)
    for (int e = 0; e < 2; ++e)
      vScale.push_back(fmul(loadF32(f32At(vScaleBase, ext64(add(colBase, ci32(d * 8 + e))))),
                            cf32(1.0 / kSageFp8Max)));
  for (int mt = 0; mt < MT; ++mt) {
    for (int half = 0; half < 2; ++half) {
      int r = mt * 2 + half;
      OnlineSoftmax::RowTotal total = softmax->finish(state[MT * DT * 4 + MT * 2 + r]);
      Value row = at.row(r);
      ifThen(lt(row, seqQ), [&] {
        for (int d = 0; d < DT; ++d) {
          Value o0 = fmul(fmul(state[(mt * DT + d) * 4 + half * 2 + 0], total.inv), vScale[2 * d]);
          Value o1 =
              fmul(fmul(state[(mt * DT + d) * 4 + half * 2 + 1], total.inv), vScale[2 * d + 1]);
          Value ptr = inputPtr("o", head, row, add(colBase, ci32(d * 8)));
          LLVM::StoreOp::create(b, loc, sm80.pack2(elt, o0, o1), ptr, 4);
        }
        if (spec.returnLse) {
          ifThen(eq(andi(lane, 3), ci32(0)), [&] {
            Value lse = softmax->logSumExp(state[MT * DT * 4 + r], total, cf32(1.0));
            Value idx = ext64(add(mul(bh, seqQ), row));
            // What the INT8 scores do not carry: q . mean (smooth_k) or Q's
            // rounding against the mean (quant_q).
            lse = fadd(lse, loadF32(f32At(arg("q_kmean"), ext64(add(mul(bh, seqQPad), row)))));
            storeF32(lse, f32At(arg("lse"), idx));
          });
        }
      });
    }
  }
  gpu::ReturnOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// The recipe
//===----------------------------------------------------------------------===//

class SageSm80Recipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "sage-sm80"; }
  bool servesVariant(Variant v) const override { return v == Variant::Sage; }
  // FP8 e4m3 mma.sync and cvt need sm_89; sm_80/86 have neither (docs/SAGE.md).
  int minCapability() const override { return 89; }
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    return sageSm80Config(spec);
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    SageGeometry g;
    if (std::string err = SageGeometry::compute(spec, g); !err.empty())
      return err;
    out.threads = g.threads;
    out.sharedMemBytes = g.smemBytes;
    out.rowsPerCta = g.blockM;
    // Reduce: one CTA per key chunk (rows = chunks); quant_kv: per key block;
    // quant_q and attend: per query block.
    out.kernels = {{kSageKernelSuffixes[0], g.reduceThreads, g.reduceSmem, 1},
                   {kSageKernelSuffixes[1], kQuantThreads, g.quantKvSmem, g.blockN},
                   {kSageKernelSuffixes[2], kQuantThreads, g.quantQSmem, g.blockM},
                   {kSageKernelSuffixes[3], g.threads, g.smemBytes, g.blockM}};
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    SageGeometry g;
    std::string err = SageGeometry::compute(spec, g);
    assert(err.empty() && "emit() after a failed launch()");
    (void)err;
    SageReduceEmitter(b, loc, spec, g).emit(module);
    SageQuantKvEmitter(b, loc, spec, g).emit(module);
    SageQuantQEmitter(b, loc, spec, g).emit(module);
    SageAttendEmitter(b, loc, spec, g).emit(module);
  }
};

} // namespace

const KernelRecipe &sageSm80Recipe() {
  static const SageSm80Recipe recipe;
  return recipe;
}

} // namespace attnjit::kernels
