#include "data/expr.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

namespace mlaas::data {

std::string describe(const ExprType& type) {
  std::string kind = type.kind == ValueKind::boolean ? "boolean" : "number";
  if (!type.isObject()) return kind;
  return fmt::format("{} per object of '{}'", kind, type.list);
}

enum class Op : std::uint8_t {
  number, name, neg, lnot, add, sub, mul, div, mod, pow, lt, le, gt, ge, eq, ne, land, lor, call, index
};

enum class Fn : std::uint8_t {
  abs, sqrt, exp, log, log10, sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, asinh, acosh, atanh,
  floor, ceil, round,  // element-wise unary (keep this block first: see isUnaryMath)
  atan2, pow, hypot, fmod, min2, max2,  // element-wise binary
  count, any, all, len, sum, mean, min, max,  // aggregates
  where,
};

struct ExprNode {
  Op op = Op::number;
  Fn fn = Fn::abs;
  double number = 0;
  std::size_t index = 0;
  std::string name;
  std::size_t column = 1;  // 1-based position in the text, for messages
  ExprType type;
  std::vector<ExprNode> args;
};

namespace {

constexpr std::size_t kMaxDepth = 256;      // nesting limit: no stack exhaustion on hostile input
constexpr std::size_t kMaxLength = 1 << 16;  // characters

[[noreturn]] void syntaxError(std::size_t column, const std::string& message) {
  throw core::Exception(core::Errc::invalid_argument, fmt::format("column {}: {}", column, message));
}

// ---- Lexer ----------------------------------------------------------------------------------

enum class Tok : std::uint8_t { end, number, ident, op, lparen, rparen, lbracket, rbracket, comma };

struct Token {
  Tok kind = Tok::end;
  std::string text;
  double number = 0;
  std::size_t column = 1;
};

std::vector<Token> lex(std::string_view text) {
  if (text.size() > kMaxLength) syntaxError(1, fmt::format("expression longer than {} characters", kMaxLength));
  std::vector<Token> tokens;
  std::size_t i = 0;
  auto isIdentStart = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto isIdentChar = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token;
    token.column = i + 1;
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      std::size_t start = i;
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
      if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        std::size_t save = i++;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        if (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
          while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        } else {
          i = save;
        }
      }
      token.kind = Tok::number;
      token.text = std::string(text.substr(start, i - start));
      char* endPtr = nullptr;
      token.number = std::strtod(token.text.c_str(), &endPtr);
      if (endPtr != token.text.c_str() + token.text.size())
        syntaxError(token.column, fmt::format("malformed number '{}'", token.text));
      if (i < text.size() && isIdentStart(text[i]))
        syntaxError(i + 1, fmt::format("unexpected '{}' after number '{}'", text[i], token.text));
    } else if (isIdentStart(c)) {
      std::size_t start = i;
      while (i < text.size() && isIdentChar(text[i])) ++i;
      token.kind = Tok::ident;
      token.text = std::string(text.substr(start, i - start));
    } else {
      static constexpr std::string_view kTwoChar[] = {"**", "<=", ">=", "==", "!=", "&&", "||"};
      token.kind = Tok::op;
      std::string_view rest = text.substr(i);
      bool matched = false;
      for (auto op : kTwoChar) {
        if (rest.substr(0, 2) == op) {
          token.text = std::string(op);
          i += 2;
          matched = true;
          break;
        }
      }
      if (!matched) {
        switch (c) {
          case '(': token.kind = Tok::lparen; break;
          case ')': token.kind = Tok::rparen; break;
          case '[': token.kind = Tok::lbracket; break;
          case ']': token.kind = Tok::rbracket; break;
          case ',': token.kind = Tok::comma; break;
          case '+': case '-': case '*': case '/': case '%': case '<': case '>': case '!': break;
          case '=': syntaxError(token.column, "unexpected '=' (use '==' to compare)");
          case '&': syntaxError(token.column, "unexpected '&' (use '&&')");
          case '|': syntaxError(token.column, "unexpected '|' (use '||')");
          default:
            if (std::isprint(static_cast<unsigned char>(c)))
              syntaxError(token.column, fmt::format("unexpected character '{}'", c));
            syntaxError(token.column, fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c)));
        }
        token.text = std::string(1, c);
        ++i;
      }
    }
    tokens.push_back(std::move(token));
  }
  Token end;
  end.column = text.size() + 1;
  tokens.push_back(end);
  return tokens;
}

// ---- Parser (precedence climbing) -------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  ExprNode parseAll() {
    ExprNode node = parseBinary(0, 0);
    if (peek().kind != Tok::end)
      syntaxError(peek().column, fmt::format("unexpected '{}' after a complete expression", peek().text));
    return node;
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  Token next() { return tokens_[pos_++]; }

  static std::string describeToken(const Token& token) {
    switch (token.kind) {
      case Tok::end: return "end of expression";
      case Tok::rparen: return "')'";
      case Tok::rbracket: return "']'";
      case Tok::comma: return "','";
      default: return fmt::format("'{}'", token.text);
    }
  }

  struct BinaryOp {
    Op op;
    int precedence;
    bool rightAssoc;
  };
  static std::optional<BinaryOp> binaryOp(const Token& token) {
    if (token.kind == Tok::ident) {
      if (token.text == "or") return BinaryOp{Op::lor, 1, false};
      if (token.text == "and") return BinaryOp{Op::land, 2, false};
      return std::nullopt;
    }
    if (token.kind != Tok::op) return std::nullopt;
    const auto& t = token.text;
    if (t == "||") return BinaryOp{Op::lor, 1, false};
    if (t == "&&") return BinaryOp{Op::land, 2, false};
    if (t == "==") return BinaryOp{Op::eq, 3, false};
    if (t == "!=") return BinaryOp{Op::ne, 3, false};
    if (t == "<") return BinaryOp{Op::lt, 4, false};
    if (t == "<=") return BinaryOp{Op::le, 4, false};
    if (t == ">") return BinaryOp{Op::gt, 4, false};
    if (t == ">=") return BinaryOp{Op::ge, 4, false};
    if (t == "+") return BinaryOp{Op::add, 5, false};
    if (t == "-") return BinaryOp{Op::sub, 5, false};
    if (t == "*") return BinaryOp{Op::mul, 6, false};
    if (t == "/") return BinaryOp{Op::div, 6, false};
    if (t == "%") return BinaryOp{Op::mod, 6, false};
    if (t == "**") return BinaryOp{Op::pow, 8, true};
    return std::nullopt;
  }

  ExprNode parseBinary(int minPrecedence, std::size_t depth) {
    if (depth > kMaxDepth) syntaxError(peek().column, "expression nested too deeply");
    ExprNode left = parseUnary(depth + 1);
    while (true) {
      auto op = binaryOp(peek());
      if (!op || op->precedence < minPrecedence) break;
      Token opToken = next();
      ExprNode right = parseBinary(op->rightAssoc ? op->precedence : op->precedence + 1, depth + 1);
      ExprNode node;
      node.op = op->op;
      node.column = opToken.column;
      node.name = opToken.text;
      node.args.push_back(std::move(left));
      node.args.push_back(std::move(right));
      left = std::move(node);
    }
    return left;
  }

  ExprNode parseUnary(std::size_t depth) {
    if (depth > kMaxDepth) syntaxError(peek().column, "expression nested too deeply");
    const Token& token = peek();
    bool isNeg = token.kind == Tok::op && token.text == "-";
    bool isNot = (token.kind == Tok::op && token.text == "!") || (token.kind == Tok::ident && token.text == "not");
    if (token.kind == Tok::op && token.text == "+") {
      next();
      return parseUnary(depth + 1);
    }
    if (isNeg || isNot) {
      Token opToken = next();
      ExprNode node;
      node.op = isNeg ? Op::neg : Op::lnot;
      node.name = opToken.text;
      node.column = opToken.column;
      // Unary minus binds looser than '**' (-x**2 == -(x**2)), as in Python: parsePower handles '**'.
      node.args.push_back(parseUnary(depth + 1));
      return node;
    }
    return parsePower(depth + 1);
  }

  ExprNode parsePower(std::size_t depth) {
    ExprNode base = parsePostfix(depth + 1);
    if (peek().kind == Tok::op && peek().text == "**") {
      Token opToken = next();
      ExprNode node;
      node.op = Op::pow;
      node.name = "**";
      node.column = opToken.column;
      node.args.push_back(std::move(base));
      node.args.push_back(parseUnary(depth + 1));  // right-associative, allows 2**-1
      return node;
    }
    return base;
  }

  ExprNode parsePostfix(std::size_t depth) {
    ExprNode node = parsePrimary(depth + 1);
    while (peek().kind == Tok::lbracket) {
      Token bracket = next();
      Token indexToken = next();
      if (indexToken.kind != Tok::number || indexToken.number < 0 ||
          indexToken.number != std::floor(indexToken.number) || indexToken.number > 1e9)
        syntaxError(indexToken.column,
                    fmt::format("expected a non-negative integer index, got {}", describeToken(indexToken)));
      if (peek().kind != Tok::rbracket)
        syntaxError(peek().column, fmt::format("expected ']', got {}", describeToken(peek())));
      next();
      ExprNode indexNode;
      indexNode.op = Op::index;
      indexNode.index = static_cast<std::size_t>(indexToken.number);
      indexNode.column = bracket.column;
      indexNode.args.push_back(std::move(node));
      node = std::move(indexNode);
    }
    return node;
  }

  ExprNode parsePrimary(std::size_t depth) {
    if (depth > kMaxDepth) syntaxError(peek().column, "expression nested too deeply");
    Token token = next();
    ExprNode node;
    node.column = token.column;
    switch (token.kind) {
      case Tok::number:
        node.op = Op::number;
        node.number = token.number;
        return node;
      case Tok::lparen: {
        node = parseBinary(0, depth + 1);
        if (peek().kind != Tok::rparen)
          syntaxError(peek().column, fmt::format("expected ')' to close '(' at column {}, got {}", token.column,
                                                 describeToken(peek())));
        next();
        return node;
      }
      case Tok::ident: {
        if (token.text == "true" || token.text == "false") {
          node.op = Op::number;
          node.number = token.text == "true" ? 1 : 0;
          node.type.kind = ValueKind::boolean;
          node.name = token.text;
          return node;
        }
        if (token.text == "and" || token.text == "or" || token.text == "not")
          syntaxError(token.column, fmt::format("expected a value, got '{}'", token.text));
        node.name = token.text;
        if (peek().kind == Tok::lparen) {
          next();
          node.op = Op::call;
          if (peek().kind != Tok::rparen) {
            while (true) {
              node.args.push_back(parseBinary(0, depth + 1));
              if (peek().kind == Tok::comma) {
                next();
                continue;
              }
              break;
            }
          }
          if (peek().kind != Tok::rparen)
            syntaxError(peek().column, fmt::format("expected ',' or ')' in the call of '{}', got {}", token.text,
                                                   describeToken(peek())));
          next();
          return node;
        }
        node.op = Op::name;
        return node;
      }
      default:
        syntaxError(token.column, fmt::format("expected a value, got {}", describeToken(token)));
    }
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

// ---- Type checking -----------------------------------------------------------------------------

struct FnInfo {
  std::string_view name;
  Fn fn;
  int arity;
};
constexpr FnInfo kFunctions[] = {
    {"abs", Fn::abs, 1},     {"sqrt", Fn::sqrt, 1},   {"exp", Fn::exp, 1},     {"log", Fn::log, 1},
    {"log10", Fn::log10, 1}, {"sin", Fn::sin, 1},     {"cos", Fn::cos, 1},     {"tan", Fn::tan, 1},
    {"asin", Fn::asin, 1},   {"acos", Fn::acos, 1},   {"atan", Fn::atan, 1},   {"sinh", Fn::sinh, 1},
    {"cosh", Fn::cosh, 1},   {"tanh", Fn::tanh, 1},   {"asinh", Fn::asinh, 1}, {"acosh", Fn::acosh, 1},
    {"atanh", Fn::atanh, 1}, {"floor", Fn::floor, 1}, {"ceil", Fn::ceil, 1},   {"round", Fn::round, 1},
    {"atan2", Fn::atan2, 2}, {"pow", Fn::pow, 2},     {"hypot", Fn::hypot, 2}, {"fmod", Fn::fmod, 2},
    {"count", Fn::count, 1}, {"any", Fn::any, 1},     {"all", Fn::all, 1},     {"len", Fn::len, 1},
    {"sum", Fn::sum, 1},     {"mean", Fn::mean, 1},   {"min", Fn::min, 1},     {"max", Fn::max, 1},
    {"where", Fn::where, 3},
};

std::string describeNode(const ExprNode& node) {
  switch (node.op) {
    case Op::name: return fmt::format("'{}'", node.name);
    case Op::call: return fmt::format("{}(...)", node.name);
    case Op::number: return node.name.empty() ? fmt::format("{}", node.number) : node.name;
    default: return fmt::format("the operand at column {}", node.column);
  }
}

class Checker {
 public:
  Checker(const Schema& schema, std::set<std::string>& inputs) : schema_(schema), inputs_(inputs) {}

  void check(ExprNode& node) {
    for (auto& arg : node.args) check(arg);
    switch (node.op) {
      case Op::number:
        node.type.list.clear();
        return;  // kind set by the parser (true/false are boolean)
      case Op::name: {
        auto it = schema_.find(node.name);
        if (it == schema_.end())
          syntaxError(node.column, fmt::format("unknown name '{}'{}", node.name, suggestion(node.name)));
        node.type = it->second;
        inputs_.insert(node.name);
        return;
      }
      case Op::neg:
        node.type = {ValueKind::number, node.args[0].type.list};
        return;
      case Op::lnot:
        requireBoolean(node.args[0], "'!'");
        node.type = {ValueKind::boolean, node.args[0].type.list};
        return;
      case Op::add: case Op::sub: case Op::mul: case Op::div: case Op::mod: case Op::pow:
        node.type = {ValueKind::number, combine(node, node.args[0], node.args[1])};
        return;
      case Op::lt: case Op::le: case Op::gt: case Op::ge: case Op::eq: case Op::ne:
        node.type = {ValueKind::boolean, combine(node, node.args[0], node.args[1])};
        return;
      case Op::land: case Op::lor:
        requireBoolean(node.args[0], fmt::format("'{}'", node.name));
        requireBoolean(node.args[1], fmt::format("'{}'", node.name));
        node.type = {ValueKind::boolean, combine(node, node.args[0], node.args[1])};
        return;
      case Op::index:
        if (!node.args[0].type.isObject())
          syntaxError(node.column, fmt::format("indexing needs a per-object value, got {} ({})",
                                               describeNode(node.args[0]), describe(node.args[0].type)));
        node.type = {node.args[0].type.kind, {}};
        return;
      case Op::call:
        checkCall(node);
        return;
    }
  }

 private:
  std::string suggestion(const std::string& name) const {
    // The closest known name by a cheap prefix/edit measure: helps with typos in long branch lists.
    std::string best;
    std::size_t bestScore = name.size() + 1;
    for (const auto& [candidate, type] : schema_) {
      std::size_t score = editDistance(name, candidate, bestScore);
      if (score < bestScore) {
        bestScore = score;
        best = candidate;
      }
    }
    if (!best.empty() && bestScore <= std::max<std::size_t>(2, name.size() / 4))
      return fmt::format(" (did you mean '{}'?)", best);
    return {};
  }
  static std::size_t editDistance(std::string_view a, std::string_view b, std::size_t cap) {
    if (a.size() > b.size() + cap || b.size() > a.size() + cap) return cap + 1;
    if (a.size() > 64 || b.size() > 64) return cap + 1;
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = up;
      }
    }
    return row[b.size()];
  }

  static void requireBoolean(const ExprNode& operand, const std::string& what) {
    if (operand.type.kind != ValueKind::boolean)
      syntaxError(operand.column, fmt::format("{} needs a boolean (a comparison such as x > 0), got {} ({})", what,
                                              describeNode(operand), describe(operand.type)));
  }
  static void requireObject(const ExprNode& call, const ExprNode& operand) {
    if (!operand.type.isObject())
      syntaxError(operand.column, fmt::format("{}() aggregates a per-object value, got {} ({})", call.name,
                                              describeNode(operand), describe(operand.type)));
  }
  static std::string combine(const ExprNode& at, const ExprNode& a, const ExprNode& b) {
    if (a.type.list.empty()) return b.type.list;
    if (b.type.list.empty() || a.type.list == b.type.list) return a.type.list;
    syntaxError(at.column, fmt::format("cannot combine objects of different lists: {} ({}) and {} ({})",
                                       describeNode(a), describe(a.type), describeNode(b), describe(b.type)));
  }

  void checkCall(ExprNode& node) {
    const FnInfo* info = nullptr;
    for (const auto& candidate : kFunctions)
      if (candidate.name == node.name) info = &candidate;
    if (info == nullptr) {
      if (schema_.count(node.name) != 0)
        syntaxError(node.column, fmt::format("'{}' is a branch, not a function", node.name));
      syntaxError(node.column, fmt::format("unknown function '{}'", node.name));
    }
    int arity = static_cast<int>(node.args.size());
    node.fn = info->fn;
    if ((info->fn == Fn::min || info->fn == Fn::max) && arity == 2) {
      node.fn = info->fn == Fn::min ? Fn::min2 : Fn::max2;
      node.type = {ValueKind::number, combine(node, node.args[0], node.args[1])};
      return;
    }
    if (arity != info->arity) {
      syntaxError(node.column,
                  fmt::format("{}() takes {} argument{}{}, got {}", node.name, info->arity, info->arity == 1 ? "" : "s",
                              (info->fn == Fn::min || info->fn == Fn::max) ? " (or 2)" : "", arity));
    }
    switch (node.fn) {
      case Fn::count:
        requireObject(node, node.args[0]);
        requireBoolean(node.args[0], "count()");
        node.type = {ValueKind::number, {}};
        return;
      case Fn::any: case Fn::all:
        requireObject(node, node.args[0]);
        requireBoolean(node.args[0], fmt::format("{}()", node.name));
        node.type = {ValueKind::boolean, {}};
        return;
      case Fn::len: case Fn::sum: case Fn::mean: case Fn::min: case Fn::max:
        requireObject(node, node.args[0]);
        node.type = {ValueKind::number, {}};
        return;
      case Fn::where: {
        requireBoolean(node.args[0], "the condition of where()");
        std::string list = combine(node, node.args[0], node.args[1]);
        ExprNode merged;
        merged.type.list = list;
        list = combine(node, merged, node.args[2]);
        bool bothBool = node.args[1].type.kind == ValueKind::boolean && node.args[2].type.kind == ValueKind::boolean;
        node.type = {bothBool ? ValueKind::boolean : ValueKind::number, list};
        return;
      }
      case Fn::atan2: case Fn::pow: case Fn::hypot: case Fn::fmod:
        node.type = {ValueKind::number, combine(node, node.args[0], node.args[1])};
        return;
      default:
        node.type = {ValueKind::number, node.args[0].type.list};
        return;
    }
  }

  const Schema& schema_;
  std::set<std::string>& inputs_;
};

// ---- Evaluation ----------------------------------------------------------------------------------

bool sameLists(const Array& a, const Array& b) {
  return a.offsets == b.offsets || *a.offsets == *b.offsets;
}

core::Result<void> checkSameLists(const Array& a, const Array& b, const ExprNode& at) {
  if (sameLists(a, b)) return {};
  std::size_t n = std::min(a.entries(), b.entries());
  for (std::size_t e = 0; e < n; ++e)
    if (a.count(e) != b.count(e))
      return core::fail(
          core::Errc::invalid_argument,
          fmt::format("column {}: per-object operands have different lengths in event {} of the chunk ({} and {})",
                      at.column, e, a.count(e), b.count(e)));
  return core::fail(core::Errc::invalid_argument,
                    fmt::format("column {}: operands cover different numbers of events", at.column));
}

// Applies f element-wise with broadcasting of event-level operands over lists.
template <class F>
core::Result<Array> elementwise2(const Array& a, const Array& b, const ExprNode& at, F f) {
  Array out;
  if (!a.isJagged() && !b.isJagged()) {
    out.values.resize(a.values.size());
    for (std::size_t i = 0; i < a.values.size(); ++i) out.values[i] = f(a.values[i], b.values[i]);
    return out;
  }
  if (a.isJagged() && b.isJagged()) {
    MLAAS_TRY(checkSameLists(a, b, at));
    out.offsets = a.offsets;
    out.values.resize(a.values.size());
    for (std::size_t i = 0; i < a.values.size(); ++i) out.values[i] = f(a.values[i], b.values[i]);
    return out;
  }
  const Array& jagged = a.isJagged() ? a : b;
  const Array& flat = a.isJagged() ? b : a;
  out.offsets = jagged.offsets;
  out.values.resize(jagged.values.size());
  const auto& offsets = *jagged.offsets;
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
    double scalar = flat.values[e];
    for (auto i = offsets[e]; i < offsets[e + 1]; ++i)
      out.values[i] = a.isJagged() ? f(jagged.values[i], scalar) : f(scalar, jagged.values[i]);
  }
  return out;
}

template <class F>
Array elementwise1(Array a, F f) {
  for (auto& v : a.values) v = f(v);
  return a;
}

template <class F>
Array aggregate(const Array& a, double empty, F reduce) {
  Array out;
  const auto& offsets = *a.offsets;
  out.values.resize(offsets.size() - 1);
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
    if (offsets[e] == offsets[e + 1]) {
      out.values[e] = empty;
      continue;
    }
    double acc = a.values[offsets[e]];
    for (auto i = offsets[e] + 1; i < offsets[e + 1]; ++i) acc = reduce(acc, a.values[i]);
    out.values[e] = acc;
  }
  return out;
}

// The values of `a` repeated over each event's objects (a copy when a is already jagged or when
// offsets is null).
Array broadcast(const Array& a, const std::shared_ptr<const Offsets>& offsets) {
  if (!offsets || a.isJagged()) {
    Array copy = a;
    if (offsets) copy.offsets = offsets;
    return copy;
  }
  Array out;
  out.offsets = offsets;
  out.values.resize(offsets->back());
  for (std::size_t e = 0; e + 1 < offsets->size(); ++e)
    for (auto i = (*offsets)[e]; i < (*offsets)[e + 1]; ++i) out.values[i] = a.values[e];
  return out;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

core::Result<Array> evalNode(const ExprNode& node, const Chunk& chunk) {
  switch (node.op) {
    case Op::number: {
      Array out;
      out.values.assign(chunk.entries, node.number);
      return out;
    }
    case Op::name: {
      const Array* input = chunk.find(node.name);
      if (input == nullptr)
        return core::fail(core::Errc::invalid_argument, fmt::format("missing input '{}'", node.name));
      if (input->entries() != chunk.entries)
        return core::fail(core::Errc::invalid_argument, fmt::format("input '{}' covers {} events, the chunk {}",
                                                                    node.name, input->entries(), chunk.entries));
      return *input;
    }
    default: break;
  }
  std::vector<Array> args;
  args.reserve(node.args.size());
  for (const auto& argNode : node.args) {
    auto value = evalNode(argNode, chunk);
    if (!value) return core::fail(std::move(value).error());
    args.push_back(std::move(*value));
  }
  switch (node.op) {
    case Op::neg: return elementwise1(std::move(args[0]), [](double x) { return -x; });
    case Op::lnot: return elementwise1(std::move(args[0]), [](double x) { return x != 0 ? 0.0 : 1.0; });
    case Op::add: return elementwise2(args[0], args[1], node, [](double x, double y) { return x + y; });
    case Op::sub: return elementwise2(args[0], args[1], node, [](double x, double y) { return x - y; });
    case Op::mul: return elementwise2(args[0], args[1], node, [](double x, double y) { return x * y; });
    case Op::div: return elementwise2(args[0], args[1], node, [](double x, double y) { return x / y; });
    case Op::mod: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::fmod(x, y); });
    case Op::pow: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::pow(x, y); });
    case Op::lt: return elementwise2(args[0], args[1], node, [](double x, double y) { return x < y ? 1.0 : 0.0; });
    case Op::le: return elementwise2(args[0], args[1], node, [](double x, double y) { return x <= y ? 1.0 : 0.0; });
    case Op::gt: return elementwise2(args[0], args[1], node, [](double x, double y) { return x > y ? 1.0 : 0.0; });
    case Op::ge: return elementwise2(args[0], args[1], node, [](double x, double y) { return x >= y ? 1.0 : 0.0; });
    case Op::eq: return elementwise2(args[0], args[1], node, [](double x, double y) { return x == y ? 1.0 : 0.0; });
    case Op::ne: return elementwise2(args[0], args[1], node, [](double x, double y) { return x != y ? 1.0 : 0.0; });
    case Op::land:
      return elementwise2(args[0], args[1], node, [](double x, double y) { return (x != 0 && y != 0) ? 1.0 : 0.0; });
    case Op::lor:
      return elementwise2(args[0], args[1], node, [](double x, double y) { return (x != 0 || y != 0) ? 1.0 : 0.0; });
    case Op::index: {
      const Array& a = args[0];
      Array out;
      const auto& offsets = *a.offsets;
      out.values.resize(offsets.size() - 1);
      for (std::size_t e = 0; e + 1 < offsets.size(); ++e)
        out.values[e] = node.index < offsets[e + 1] - offsets[e] ? a.values[offsets[e] + node.index] : kNaN;
      return out;
    }
    case Op::call: break;
    default: return core::fail(core::Errc::internal, "unhandled expression node");
  }
  switch (node.fn) {
    case Fn::abs: return elementwise1(std::move(args[0]), [](double x) { return std::fabs(x); });
    case Fn::sqrt: return elementwise1(std::move(args[0]), [](double x) { return std::sqrt(x); });
    case Fn::exp: return elementwise1(std::move(args[0]), [](double x) { return std::exp(x); });
    case Fn::log: return elementwise1(std::move(args[0]), [](double x) { return std::log(x); });
    case Fn::log10: return elementwise1(std::move(args[0]), [](double x) { return std::log10(x); });
    case Fn::sin: return elementwise1(std::move(args[0]), [](double x) { return std::sin(x); });
    case Fn::cos: return elementwise1(std::move(args[0]), [](double x) { return std::cos(x); });
    case Fn::tan: return elementwise1(std::move(args[0]), [](double x) { return std::tan(x); });
    case Fn::asin: return elementwise1(std::move(args[0]), [](double x) { return std::asin(x); });
    case Fn::acos: return elementwise1(std::move(args[0]), [](double x) { return std::acos(x); });
    case Fn::atan: return elementwise1(std::move(args[0]), [](double x) { return std::atan(x); });
    case Fn::sinh: return elementwise1(std::move(args[0]), [](double x) { return std::sinh(x); });
    case Fn::cosh: return elementwise1(std::move(args[0]), [](double x) { return std::cosh(x); });
    case Fn::tanh: return elementwise1(std::move(args[0]), [](double x) { return std::tanh(x); });
    case Fn::asinh: return elementwise1(std::move(args[0]), [](double x) { return std::asinh(x); });
    case Fn::acosh: return elementwise1(std::move(args[0]), [](double x) { return std::acosh(x); });
    case Fn::atanh: return elementwise1(std::move(args[0]), [](double x) { return std::atanh(x); });
    case Fn::floor: return elementwise1(std::move(args[0]), [](double x) { return std::floor(x); });
    case Fn::ceil: return elementwise1(std::move(args[0]), [](double x) { return std::ceil(x); });
    case Fn::round: return elementwise1(std::move(args[0]), [](double x) { return std::round(x); });
    case Fn::atan2: return elementwise2(args[0], args[1], node, [](double y, double x) { return std::atan2(y, x); });
    case Fn::pow: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::pow(x, y); });
    case Fn::hypot: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::hypot(x, y); });
    case Fn::fmod: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::fmod(x, y); });
    case Fn::min2: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::fmin(x, y); });
    case Fn::max2: return elementwise2(args[0], args[1], node, [](double x, double y) { return std::fmax(x, y); });
    case Fn::count: return aggregate(args[0], 0.0, [](double acc, double x) { return acc + (x != 0 ? 1.0 : 0.0); });
    case Fn::any: return aggregate(args[0], 0.0, [](double acc, double x) { return (acc != 0 || x != 0) ? 1.0 : 0.0; });
    case Fn::all: return aggregate(args[0], 1.0, [](double acc, double x) { return (acc != 0 && x != 0) ? 1.0 : 0.0; });
    case Fn::sum: return aggregate(args[0], 0.0, [](double acc, double x) { return acc + x; });
    case Fn::min: return aggregate(args[0], kNaN, [](double acc, double x) { return std::fmin(acc, x); });
    case Fn::max: return aggregate(args[0], kNaN, [](double acc, double x) { return std::fmax(acc, x); });
    case Fn::len: {
      Array out;
      const auto& offsets = *args[0].offsets;
      out.values.resize(offsets.size() - 1);
      for (std::size_t e = 0; e + 1 < offsets.size(); ++e)
        out.values[e] = static_cast<double>(offsets[e + 1] - offsets[e]);
      return out;
    }
    case Fn::mean: {
      Array out = aggregate(args[0], kNaN, [](double acc, double x) { return acc + x; });
      const auto& offsets = *args[0].offsets;
      for (std::size_t e = 0; e + 1 < offsets.size(); ++e)
        if (offsets[e + 1] > offsets[e]) out.values[e] /= static_cast<double>(offsets[e + 1] - offsets[e]);
      return out;
    }
    case Fn::where: {
      std::shared_ptr<const Offsets> offsets;
      const Array* jagged = nullptr;
      for (const auto& arg : args) {
        if (!arg.isJagged()) continue;
        if (jagged != nullptr) MLAAS_TRY(checkSameLists(*jagged, arg, node));
        jagged = &arg;
        offsets = arg.offsets;
      }
      Array c = broadcast(args[0], offsets), a = broadcast(args[1], offsets), b = broadcast(args[2], offsets);
      for (std::size_t i = 0; i < c.values.size(); ++i) c.values[i] = c.values[i] != 0 ? a.values[i] : b.values[i];
      return c;
    }
    default: return core::fail(core::Errc::internal, "unhandled function");
  }
}

}  // namespace

Expression Expression::compile(std::string_view text, const Schema& schema) {
  auto root = std::make_shared<ExprNode>(Parser(lex(text)).parseAll());
  std::set<std::string> inputs;
  Checker(schema, inputs).check(*root);
  Expression expression;
  expression.text_ = std::string(text);
  expression.type_ = root->type;
  expression.inputs_.assign(inputs.begin(), inputs.end());
  expression.root_ = std::move(root);
  return expression;
}

void Expression::checkSyntax(std::string_view text) { (void)Parser(lex(text)).parseAll(); }

core::Result<Array> Expression::evaluate(const Chunk& chunk) const {
  if (!root_) return core::fail(core::Errc::internal, "evaluating an empty expression");
  return evalNode(*root_, chunk);
}

}  // namespace mlaas::data
