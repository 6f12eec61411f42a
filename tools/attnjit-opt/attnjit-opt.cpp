//===- attnjit-opt.cpp - mlir-opt for the attn dialect --------------------===//
//
// Part of attnjit. Parses, verifies, transforms and prints attn-dialect and
// kernel IR; the lit tests drive it. Everything is in libattnjit_compiler.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/OptMain.h"

int main(int argc, char **argv) { return attnjit::optMain(argc, argv); }
