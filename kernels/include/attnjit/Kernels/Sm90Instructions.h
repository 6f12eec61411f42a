//===- Sm90Instructions.h - The sm_90a instruction layer ---------*- C++ -*-===//
//
// Part of attnjit. Hopper's asynchronous machinery, for recipes that target
// sm_90a: mbarriers with transaction counts and phases, TMA bulk tensor copies
// (global <-> shared, described by a CUtensorMap kernel parameter), the async
// proxy fences, wgmma with shared-memory matrix descriptors and its
// fence/commit/wait, setmaxnreg for warp specialization, elect.sync and
// cluster rank and size. Everything is an NVVM op; nothing here knows an algorithm.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_SM90INSTRUCTIONS_H
#define ATTNJIT_KERNELS_SM90INSTRUCTIONS_H

#include "attnjit/Kernels/KernelBuilder.h"

namespace attnjit::kernels {

/// Element types of a wgmma operand (A and B alike).
enum class WgmmaOperand { F16, BF16, S8, E4M3 };

/// Swizzle of a shared-memory matrix (wgmma descriptor) or TMA box: the
/// 16-byte chunk c of row r sits at chunk c ^ (r % 8) (128B; 64B and 32B
/// swizzle fewer row bits). SharedLayout.h's 8-chunk layout is Swizzle128B.
enum class SmemSwizzle { None, Swizzle32B, Swizzle64B, Swizzle128B };

class Sm90Instructions {
public:
  explicit Sm90Instructions(KernelBuilder &kb) : kb(kb) {}

  //--- mbarriers (8 bytes of shared memory, 8-byte aligned) -----------------//
  /// Initializes the barrier at shared pointer `bar` to expect `count` arrivals.
  void mbarrierInit(mlir::Value bar, int count);
  /// Makes barrier initialization visible to the async proxy (TMA) and the
  /// cluster; follow with a CTA barrier before use.
  void fenceMbarrierInit();
  /// Arrives once and adds `bytes` to the transaction count the current phase
  /// waits for (the TMA copies that complete on it).
  void mbarrierArriveExpectTx(mlir::Value bar, mlir::Value bytes);
  /// Arrives once.
  void mbarrierArrive(mlir::Value bar);
  /// Waits until the barrier's phase with parity `parity` (i32 0/1) completed:
  /// a try_wait.parity loop.
  void mbarrierWait(mlir::Value bar, mlir::Value parity);

  //--- TMA ---------------------------------------------------------------//
  /// Bulk tensor copy of one box at element coordinates `coords` (innermost
  /// first) of the tensor map `tmap` (a pointer to the 128-byte CUtensorMap
  /// kernel parameter) into shared memory at `dst`, completing on `bar`.
  /// Issued by one thread; boxes past the tensor's bounds are zero filled.
  void tmaLoad(mlir::Value dst, mlir::Value tmap, llvm::ArrayRef<mlir::Value> coords,
               mlir::Value bar);
  /// Bulk tensor copy of shared memory at `src` to the box at `coords`;
  /// elements past the tensor's bounds are not written. Commit and wait with
  /// bulkCommit / bulkWait.
  void tmaStore(mlir::Value tmap, mlir::Value src, llvm::ArrayRef<mlir::Value> coords);
  void bulkCommit();
  /// Waits until at most `pending` bulk groups are in flight (`readOnly`:
  /// only until their shared-memory sources may be reused).
  void bulkWait(int pending, bool readOnly = false);
  /// fence.proxy.async.shared::cta: orders this thread's generic shared-memory
  /// writes before later async-proxy reads (TMA store, wgmma operands).
  void fenceProxyAsyncShared();

  //--- wgmma ---------------------------------------------------------------//
  /// The 64-bit matrix descriptor of a K-major tile at shared byte address
  /// `smemAddr` (i32, the shared-window address): leading and stride byte
  /// offsets and the swizzle. For 128B swizzle, rows are 128 bytes and the
  /// stride between 8-row groups is `strideBytes` (1024 for dense tiles).
  mlir::Value wgmmaDescriptor(mlir::Value smemAddr, int leadingBytes, int strideBytes,
                              SmemSwizzle swizzle);
  /// Shared-window address (i32) of a shared pointer.
  mlir::Value sharedAddress(mlir::Value ptr);
  void wgmmaFence();
  void wgmmaCommit();
  void wgmmaWait(int pending);
  /// acc = A * B (+ acc when `accumulate`), one warpgroup, m64nNk16 (f16/bf16)
  /// or m64nNk32 (s8, e4m3); A and B K-major in shared memory. `acc` holds
  /// the N / 2 fp32 (s32 for s8) accumulators of each thread (the layout of
  /// Fragments.h, one 16-row group per warp).
  void wgmma(WgmmaOperand type, int n, mlir::Value descA, mlir::Value descB,
             llvm::SmallVectorImpl<mlir::Value> &acc, bool accumulate);
  /// acc (+)= A * B, one warpgroup, m64nNk16 (f16/bf16) with A from registers:
  /// `a` holds each thread's four packed 16-bit pairs in mma.sync's m16n8k16
  /// A layout (rows 16 w .. 16 w + 15 for warp w of the group), so an
  /// accumulator fragment packed to 16 bits feeds it unchanged. B is read
  /// through `descB`; `transB` takes it MN-major (N contiguous, e.g. V of
  /// P V) instead of K-major. NVVM's wgmma op has no register-A form, so this
  /// one instruction is inline PTX, as NVVM's own wgmma lowering is.
  /// Without `accumulate` (scale-d 0) acc = A * B and the accumulators in
  /// are not read.
  void wgmmaRegA(WgmmaOperand type, int n, llvm::ArrayRef<mlir::Value> a, mlir::Value descB,
                 llvm::SmallVectorImpl<mlir::Value> &acc, bool transB, bool accumulate = true);

  /// Keeps the compiler from moving work across an asynchronous MMA's wait:
  /// an empty inline asm that reads and rewrites each value (f32 or i32), so
  /// later uses of an accumulator follow the wgmma wait that completed it, and
  /// registers an MMA in flight still reads stay allocated until here.
  void fenceOperands(llvm::SmallVectorImpl<mlir::Value> &values);

  //--- warp specialization and clusters ------------------------------------//
  /// bar.sync / bar.arrive on named barrier `id` (i32, 1..15; 0 is the CTA-wide
  /// one) for `threads` threads in all (a multiple of 32): warpgroups hand
  /// each other turns with them.
  void namedBarrierSync(mlir::Value id, int threads);
  void namedBarrierArrive(mlir::Value id, int threads);
  /// setmaxnreg: lowers (producers) or raises (consumers) this warpgroup's
  /// register budget to `count` (24..256, a multiple of 8).
  void setMaxRegisters(int count, bool increase);
  /// One lane of the warp elected (i1).
  mlir::Value electOne();
  /// This CTA's rank in its cluster and the cluster's CTA count (i32).
  mlir::Value clusterRank();
  mlir::Value clusterSize();

private:
  KernelBuilder &kb;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_SM90INSTRUCTIONS_H
