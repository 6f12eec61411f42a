//===- attnjit-compile.cpp - Print any stage of the pipeline for a spec ---===//
//
// Part of attnjit.
//
//   attnjit-compile --variant flash --head-dim 128 [--causal] --dtype bf16
//                   --arch sm_90a --emit attn|kernel|llvm|llvm-ir|ptx|cubin
//                   [--lse] [--block-m N --block-n N --warps N --stages N]
//                   [-o FILE] [--stats]
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/Error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

using namespace attnjit;

static void usage(std::FILE *out) {
  std::fprintf(out,
               "usage: attnjit-compile [--variant flash] [--head-dim N] [--causal] [--lse]\n"
               "         [--dtype bf16|f16] [--arch sm_80|sm_90a|...]\n"
               "         [--emit attn|kernel|llvm|llvm-ir|ptx|cubin] [-o FILE]\n"
               "         [--block-m N] [--block-n N] [--warps N] [--stages N] [--stats]\n"
               "         [--granularity per_block|per_warp|per_thread] [--no-smooth-k]\n"
               "         [--pv-accum fp32|fp32_fp32]   (sage only)\n"
               "         [--spec 'variant=flash;head_dim=128;...']\n");
}

static int parseIntArg(const char *flag, const char *v) {
  char *end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (!*v || *end || x < -1000000 || x > 1000000) {
    std::fprintf(stderr, "attnjit-compile: %s expects an integer, got '%s'\n", flag, v);
    std::exit(2);
  }
  return static_cast<int>(x);
}

int main(int argc, char **argv) {
  AttentionSpec spec;
  std::string emit = "ptx", output;
  bool stats = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "attnjit-compile: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--variant") {
      auto v = parseVariant(next());
      if (!v) { std::fprintf(stderr, "attnjit-compile: --variant: expected flash, sdpa or sage, got '%s'\n", argv[i]); return 2; }
      spec.variant = *v;
    } else if (a == "--head-dim") spec.headDim = parseIntArg("--head-dim", next());
    else if (a == "--causal") spec.causal = true;
    else if (a == "--lse") spec.returnLse = true;
    else if (a == "--dtype") {
      auto d = parseDType(next());
      if (!d) { std::fprintf(stderr, "attnjit-compile: --dtype: expected bf16, f16 or f32, got '%s'\n", argv[i]); return 2; }
      spec.dtype = *d;
    } else if (a == "--arch") spec.arch = next();
    else if (a == "--emit") emit = next();
    else if (a == "-o") output = next();
    else if (a == "--block-m") spec.config.blockM = parseIntArg("--block-m", next());
    else if (a == "--block-n") spec.config.blockN = parseIntArg("--block-n", next());
    else if (a == "--warps") spec.config.numWarps = parseIntArg("--warps", next());
    else if (a == "--stages") spec.config.stages = parseIntArg("--stages", next());
    else if (a == "--stats") stats = true;
    else if (a == "--granularity") {
      auto g = parseGranularity(next());
      if (!g) { std::fprintf(stderr, "attnjit-compile: --granularity: expected per_block, per_warp or per_thread, got '%s'\n", argv[i]); return 2; }
      spec.granularity = *g;
    } else if (a == "--no-smooth-k") spec.smoothK = false;
    else if (a == "--pv-accum") {
      auto p = parsePvAccum(next());
      if (!p) { std::fprintf(stderr, "attnjit-compile: --pv-accum: expected fp32 or fp32_fp32, got '%s'\n", argv[i]); return 2; }
      spec.pvAccum = *p;
    }
    else if (a == "--spec") {
      std::string err;
      auto s = AttentionSpec::parse(next(), &err);
      if (!s) { std::fprintf(stderr, "attnjit-compile: --spec: %s\n", err.c_str()); return 2; }
      spec = *s;
    } else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
    else {
      std::fprintf(stderr, "attnjit-compile: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  Stage stage;
  if (emit == "attn") stage = Stage::Attn;
  else if (emit == "kernel") stage = Stage::Kernel;
  else if (emit == "llvm" || emit == "llvm-dialect") stage = Stage::LLVMDialect;
  else if (emit == "llvm-ir") stage = Stage::LLVMIR;
  else if (emit == "ptx") stage = Stage::PTX;
  else if (emit == "cubin") stage = Stage::Cubin;
  else {
    std::fprintf(stderr, "attnjit-compile: --emit: expected attn, kernel, llvm, llvm-ir, ptx or cubin, got '%s'\n", emit.c_str());
    return 2;
  }
  try {
    std::string text;
    if (stats) {
      CompiledKernel k = compileAttention(spec);
      text = stage == Stage::Cubin ? std::string(k.cubin.begin(), k.cubin.end()) : k.ptx;
      std::fprintf(stderr, "%s: %.1f ms, %d threads, %d bytes shared memory, %d registers, %d spill bytes\n",
                   k.entryName().c_str(), k.compileMs, k.threadsPerBlock(), k.sharedMemBytes(),
                   k.registers, k.spillBytes);
    } else {
      text = compileToStage(spec, stage);
    }
    if (output.empty() || output == "-") {
      std::cout << text;
      if (!text.empty() && text.back() != '\n' && stage != Stage::Cubin)
        std::cout << "\n";
    } else {
      std::ofstream f(output, std::ios::binary);
      f << text;
      if (!f) { std::fprintf(stderr, "attnjit-compile: cannot write %s\n", output.c_str()); return 1; }
    }
  } catch (const Error &e) {
    std::fprintf(stderr, "attnjit-compile: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
