//===- StateDict.h - Named tensors in safetensors files ----------*- C++ -*-===//
//
// Part of attnjit. A host-side state dict (name -> dtype, shape, bytes) and
// its safetensors form, the format PyTorch models are exchanged in:
//   8 bytes: little-endian u64 header length N
//   N bytes: JSON {"<name>": {"dtype": "F32", "shape": [..],
//                  "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
//   the data: each tensor's row-major bytes at [begin, end) of this part.
// Layers (MultiHeadFlashAttention) check names, shapes and dtypes against
// their own parameters; this file checks the format.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_LAYERS_STATEDICT_H
#define ATTNJIT_LAYERS_STATEDICT_H

#include "attnjit/Core/AttentionSpec.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attnjit {

/// One tensor of a state dict, on the host.
struct StateTensor {
  /// The safetensors dtype name ("F32", "BF16", "I64", ...), as in the file.
  std::string dtypeName;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes; ///< row-major, little-endian

  /// The tensor as float32: F32, F64, F16 and BF16 convert; any other dtype throws
  /// InvalidArgument naming `key` and the dtype.
  std::vector<float> toFloat(const std::string &key) const;
  /// An F32 tensor of `shape` holding `values`.
  static StateTensor fromFloat(const std::vector<float> &values, std::vector<int64_t> shape);
};

using StateDict = std::map<std::string, StateTensor>;

/// Bytes per element of a safetensors dtype name; 0 when unknown.
int safetensorsDTypeSize(const std::string &dtypeName);

/// Reads a safetensors file. Throws Io when it cannot be read, InvalidArgument
/// naming the file and (where there is one) the key for: a file shorter than
/// its header, a header length beyond the file, JSON that does not parse or is
/// not an object, an entry without dtype/shape/data_offsets or with values of
/// the wrong kind, an unknown dtype, negative dims, data_offsets out of order
/// or beyond the data, a byte count that does not match shape x dtype, and
/// tensors that overlap.
StateDict readSafetensors(const std::string &path);
/// Parses a safetensors image held in memory (`what` names it in messages).
StateDict parseSafetensors(const std::vector<uint8_t> &file, const std::string &what);

/// Writes `dict` as safetensors (keys in order, header padded to 8 bytes).
/// Throws Io when the file cannot be written, InvalidArgument when a tensor's
/// bytes do not match its shape and dtype (naming the key).
void writeSafetensors(const std::string &path, const StateDict &dict);
std::vector<uint8_t> serializeSafetensors(const StateDict &dict);

} // namespace attnjit

#endif // ATTNJIT_LAYERS_STATEDICT_H
