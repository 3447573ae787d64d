// Tiny ONNX models for the serve tests, encoded with the protobuf wire format by hand so that
// test_serve depends only on mlaas::serve (the real builder is mlaas::onnx, used by the CLI
// tests through `mlaas model mlp`).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace mlaas::serve::test {

class Proto {
 public:
  Proto& varint(int field, std::uint64_t value) {
    key(field, 0);
    raw(value);
    return *this;
  }
  Proto& bytes(int field, const std::string& value) {
    key(field, 2);
    raw(value.size());
    out_ += value;
    return *this;
  }
  Proto& message(int field, const Proto& m) { return bytes(field, m.out_); }
  Proto& fixed32(int field, float value) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &value, 4);
    out_.append(b, 4);
    return *this;
  }
  [[nodiscard]] const std::string& str() const { return out_; }

 private:
  void key(int field, int wire) { raw((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(wire)); }
  void raw(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

// ONNX element types
constexpr int kFloat = 1, kInt64 = 7, kString = 8, kBool = 9, kDouble = 11, kInt32 = 6, kUint8 = 2;

/// ValueInfoProto with dims (-1 → dim_param "batch").
inline Proto valueInfo(const std::string& name, int elemType, const std::vector<std::int64_t>& dims) {
  Proto shape;
  for (auto d : dims) {
    Proto dim;
    if (d < 0)
      dim.bytes(2, "batch");
    else
      dim.varint(1, static_cast<std::uint64_t>(d));
    shape.message(1, dim);
  }
  Proto tensor;
  tensor.varint(1, static_cast<std::uint64_t>(elemType)).message(2, shape);
  Proto type;
  type.message(1, tensor);
  Proto info;
  info.bytes(1, name).message(2, type);
  return info;
}

inline Proto floatInitializer(const std::string& name, const std::vector<std::int64_t>& dims,
                              const std::vector<float>& values) {
  Proto t;
  for (auto d : dims) t.varint(1, static_cast<std::uint64_t>(d));
  t.varint(2, kFloat).bytes(8, name);
  t.bytes(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

inline Proto node(const std::string& op, const std::vector<std::string>& inputs,
                  const std::vector<std::string>& outputs) {
  Proto n;
  for (const auto& i : inputs) n.bytes(1, i);
  for (const auto& o : outputs) n.bytes(2, o);
  n.bytes(4, op);
  return n;
}

inline std::string model(const Proto& graph) {
  Proto opset;
  opset.bytes(1, "").varint(2, 13);
  Proto m;
  m.varint(1, 8).bytes(2, "mlaas-tests").message(7, graph).message(8, opset);
  return m.str();
}

/// One node: y = op(x) or y = op(x, x) for binary ops, input and output [-1, width] of elemType.
inline std::string oneNodeModel(const std::string& op, int elemType, std::int64_t width, bool binary = false) {
  Proto graph;
  graph.message(1, node(op, binary ? std::vector<std::string>{"x", "x"} : std::vector<std::string>{"x"}, {"y"}));
  graph.bytes(2, "one_node");
  graph.message(11, valueInfo("x", elemType, {-1, width}));
  graph.message(12, valueInfo("y", elemType, {-1, width}));
  return model(graph);
}

/// Dense MLP with ReLU hidden layers and a sigmoid output, seeded weights: input "input"
/// [-1, layers[0]], output "output" [-1, layers.back()].
inline std::string mlpModel(const std::vector<std::int64_t>& layers, unsigned seed = 1) {
  std::mt19937 rng(seed);
  Proto graph;
  graph.bytes(2, "mlp");
  std::string current = "input";
  for (std::size_t l = 0; l + 1 < layers.size(); ++l) {
    std::int64_t in = layers[l], out = layers[l + 1];
    float limit = std::sqrt(6.0f / static_cast<float>(in + out));
    std::uniform_real_distribution<float> dist(-limit, limit);
    std::vector<float> w(static_cast<std::size_t>(in * out)), b(static_cast<std::size_t>(out));
    for (auto& v : w) v = dist(rng);
    for (auto& v : b) v = dist(rng) * 0.1f;
    std::string wn = "W" + std::to_string(l), bn = "B" + std::to_string(l);
    graph.message(5, floatInitializer(wn, {in, out}, w));
    graph.message(5, floatInitializer(bn, {out}, b));
    std::string mm = "mm" + std::to_string(l), add = "add" + std::to_string(l);
    graph.message(1, node("MatMul", {current, wn}, {mm}));
    bool last = l + 2 == layers.size();
    graph.message(1, node("Add", {mm, bn}, {last ? add : add}));
    std::string act = last ? "output" : "act" + std::to_string(l);
    graph.message(1, node(last ? "Sigmoid" : "Relu", {add}, {act}));
    current = act;
  }
  graph.message(11, valueInfo("input", kFloat, {-1, layers.front()}));
  graph.message(12, valueInfo("output", kFloat, {-1, layers.back()}));
  return model(graph);
}

}  // namespace mlaas::serve::test
