//===- main.cpp - Catch2 main for the CPU unit tests ----------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
