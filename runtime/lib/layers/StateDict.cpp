//===- StateDict.cpp - Named tensors in safetensors files -----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Layers/StateDict.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Float16.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <tuple>

namespace attnjit {

namespace {

[[noreturn]] void bad(const std::string &what, const std::string &msg) {
  throw Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", what, msg));
}

uint16_t loadU16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

} // namespace

int safetensorsDTypeSize(const std::string &name) {
  static const std::map<std::string, int> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8}};
  auto it = sizes.find(name);
  return it == sizes.end() ? 0 : it->second;
}

std::vector<float> StateTensor::toFloat(const std::string &key) const {
  size_t n = bytes.size() / std::max(1, safetensorsDTypeSize(dtypeName));
  std::vector<float> out(n);
  if (dtypeName == "F32") {
    std::memcpy(out.data(), bytes.data(), n * 4);
  } else if (dtypeName == "F64") {
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, &bytes[8 * i], 8);
      out[i] = static_cast<float>(d);
    }
  } else if (dtypeName == "F16" || dtypeName == "BF16") {
    DType t = dtypeName == "F16" ? DType::F16 : DType::BF16;
    for (size_t i = 0; i < n; ++i)
      out[i] = to16Float(loadU16(&bytes[2 * i]), t);
  } else {
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("{}: dtype {} is not a floating-point parameter type (expected F32, "
                            "F64, F16 or BF16)",
                            key, dtypeName));
  }
  return out;
}

StateTensor StateTensor::fromFloat(const std::vector<float> &values, std::vector<int64_t> shape) {
  StateTensor t;
  t.dtypeName = "F32";
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 4);
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

StateDict parseSafetensors(const std::vector<uint8_t> &file, const std::string &what) {
  if (file.size() < 8)
    bad(what, fmt::format("truncated: {} bytes, shorter than the 8-byte header length", file.size()));
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = (headerLen << 8) | file[i];
  if (headerLen > file.size() - 8)
    bad(what, fmt::format("truncated: the header claims {} bytes, the file has {} after the "
                          "length",
                          headerLen, file.size() - 8));
  const uint8_t *dataBegin = file.data() + 8 + headerLen;
  const uint64_t dataBytes = file.size() - 8 - headerLen;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<long>(headerLen));
  } catch (const nlohmann::json::exception &e) {
    bad(what, fmt::format("the header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object())
    bad(what, fmt::format("the header must be a JSON object, got {}", header.type_name()));

  StateDict dict;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  for (auto &[key, entry] : header.items()) {
    if (key == "__metadata__")
      continue;
    std::string where = fmt::format("{}: tensor '{}'", what, key);
    if (!entry.is_object())
      bad(where, "expected an object with dtype, shape and data_offsets");
    for (const char *field : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(field))
        bad(where, fmt::format("missing '{}'", field));
    const auto &dt = entry["dtype"], &shape = entry["shape"], &offs = entry["data_offsets"];
    if (!dt.is_string())
      bad(where, fmt::format("'dtype' must be a string, got {}", dt.dump()));
    StateTensor t;
    t.dtypeName = dt.get<std::string>();
    int elt = safetensorsDTypeSize(t.dtypeName);
    if (elt == 0)
      bad(where, fmt::format("unknown dtype '{}'", t.dtypeName));
    if (!shape.is_array())
      bad(where, fmt::format("'shape' must be an array, got {}", shape.dump()));
    uint64_t count = 1;
    for (const auto &d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        bad(where, fmt::format("'shape' must hold integers >= 0, got {}", shape.dump()));
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / dim / 8)
        bad(where, fmt::format("'shape' {} is too large", shape.dump()));
      count *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned())
      bad(where, fmt::format("'data_offsets' must be [begin, end] with integers >= 0, got {}",
                             offs.dump()));
    uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > dataBytes)
      bad(where, fmt::format("data_offsets [{}, {}] out of range: the data part has {} bytes",
                             begin, end, dataBytes));
    if (end - begin != count * elt)
      bad(where, fmt::format("data_offsets [{}, {}] hold {} bytes, shape {} of {} needs {}", begin,
                             end, end - begin, shape.dump(), t.dtypeName, count * elt));
    t.bytes.assign(dataBegin + begin, dataBegin + end);
    spans.emplace_back(begin, end, key);
    dict.emplace(key, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (std::get<0>(spans[i]) < std::get<1>(spans[i - 1]))
      bad(what, fmt::format("tensors '{}' and '{}' overlap in the data part", std::get<2>(spans[i - 1]),
                            std::get<2>(spans[i])));
  return dict;
}

StateDict readSafetensors(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::Io, fmt::format("cannot open state dict '{}' for reading", path));
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    throw Error(ErrorKind::Io, fmt::format("cannot read state dict '{}'", path));
  return parseSafetensors(file, fmt::format("state dict '{}'", path));
}

std::vector<uint8_t> serializeSafetensors(const StateDict &dict) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t at = 0;
  for (const auto &[key, t] : dict) {
    uint64_t count = 1;
    for (int64_t d : t.shape)
      count *= static_cast<uint64_t>(d);
    int elt = safetensorsDTypeSize(t.dtypeName);
    if (elt == 0 || count * elt != t.bytes.size())
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("{}: {} bytes do not hold shape [{}] of dtype '{}'", key,
                              t.bytes.size(), fmt::join(t.shape, ", "), t.dtypeName));
    header[key] = {{"dtype", t.dtypeName}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes.size()}}};
    at += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), text.begin(), text.end());
  for (const auto &[key, t] : dict)
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

void writeSafetensors(const std::string &path, const StateDict &dict) {
  std::vector<uint8_t> bytes = serializeSafetensors(dict);
  std::ofstream outFile(path, std::ios::binary | std::ios::trunc);
  if (!outFile)
    throw Error(ErrorKind::Io, fmt::format("cannot open state dict '{}' for writing", path));
  outFile.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  outFile.close();
  if (!outFile)
    throw Error(ErrorKind::Io, fmt::format("cannot write state dict '{}'", path));
}

} // namespace attnjit
