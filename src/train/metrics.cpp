#include "train/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

namespace mlaas::train {

namespace {

/// True when a ROC curve of these scores is undefined: a NaN score has no place in the order
/// (NaN compares false with everything, so sorting by it is undefined behaviour and a loop over
/// ties of NaN never advances), and a NaN or infinite weight makes every rate meaningless.
bool undefinedRoc(std::span<const float> scores, std::span<const float> weights) {
  return std::any_of(scores.begin(), scores.end(), [](float s) { return std::isnan(s); }) ||
         std::any_of(weights.begin(), weights.end(), [](float w) { return !std::isfinite(w); });
}

/// Indices sorted by descending score (stable, so equal inputs give equal curves). The scores hold
/// no NaN (undefinedRoc), so `>` is a strict weak ordering; infinities sort at the ends.
std::vector<std::size_t> byDescendingScore(std::span<const float> scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}

double weightOf(std::span<const float> weights, std::size_t i) {
  return weights.empty() ? 1.0 : static_cast<double>(weights[i]);
}

}  // namespace

RocCurve rocCurve(std::span<const float> scores, std::span<const std::uint8_t> positive,
                  std::span<const float> weights, std::size_t maxPoints) {
  RocCurve curve;
  if (undefinedRoc(scores, weights)) return curve;  // no points, AUC NaN
  const auto order = byDescendingScore(scores);
  double totalPos = 0;
  double totalNeg = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) (positive[i] != 0 ? totalPos : totalNeg) += weightOf(weights, i);
  std::vector<double> fpr{0.0};
  std::vector<double> tpr{0.0};
  double tp = 0;
  double fp = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto i = order[k];
    (positive[i] != 0 ? tp : fp) += weightOf(weights, i);
    // One point per distinct score: a threshold cannot split ties.
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[i]) {
      fpr.push_back(totalNeg > 0 ? fp / totalNeg : 0.0);
      tpr.push_back(totalPos > 0 ? tp / totalPos : 0.0);
    }
  }
  curve.auc = rocAuc(scores, positive, weights);
  if (fpr.size() > maxPoints && maxPoints >= 2) {
    std::vector<double> f;
    std::vector<double> t;
    for (std::size_t p = 0; p < maxPoints; ++p) {
      const auto idx = p * (fpr.size() - 1) / (maxPoints - 1);
      f.push_back(fpr[idx]);
      t.push_back(tpr[idx]);
    }
    fpr = std::move(f);
    tpr = std::move(t);
  }
  curve.falsePositiveRate = std::move(fpr);
  curve.truePositiveRate = std::move(tpr);
  return curve;
}

double rocAuc(std::span<const float> scores, std::span<const std::uint8_t> positive, std::span<const float> weights) {
  if (undefinedRoc(scores, weights)) return kNoValue;
  const auto order = byDescendingScore(scores);
  double totalPos = 0;
  double totalNeg = 0;
  double area = 0;  // sum over negatives of (positive weight above it + half the tied positive weight)
  double posAbove = 0;
  std::size_t k = 0;
  while (k < order.size()) {
    // The first of a run of ties is taken unconditionally, so the loop advances whatever the
    // comparison says.
    std::size_t end = k;
    double tiedPos = 0;
    double tiedNeg = 0;
    do {
      const auto i = order[end];
      (positive[i] != 0 ? tiedPos : tiedNeg) += weightOf(weights, i);
      ++end;
    } while (end < order.size() && scores[order[end]] == scores[order[k]]);
    area += tiedNeg * (posAbove + 0.5 * tiedPos);
    posAbove += tiedPos;
    totalPos += tiedPos;
    totalNeg += tiedNeg;
    k = end;
  }
  if (totalPos <= 0 || totalNeg <= 0) return kNoValue;
  return area / (totalPos * totalNeg);
}

namespace {
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

std::string historyJson(const TrainHistory& history, const TrainConfig& config) {
  nlohmann::json out;
  out["task"] = std::string(name(config.model.task));
  out["model"] = std::string(name(config.model.kind));
  out["best_epoch"] = history.bestEpoch;
  out["best_validation_loss"] = number(history.bestValidationLoss);
  out["stopped_early"] = history.stoppedEarly;
  auto& epochs = out["epochs"] = nlohmann::json::array();
  for (const auto& e : history.epochs) {
    epochs.push_back({{"epoch", e.epoch},
                      {"learning_rate", number(e.learningRate)},
                      {"train_loss", number(e.trainLoss)},
                      {"validation_loss", number(e.validationLoss)},
                      {"train_accuracy", number(e.trainAccuracy)},
                      {"validation_accuracy", number(e.validationAccuracy)},
                      {"validation_auc", number(e.validationAuc)},
                      {"seconds", number(e.seconds)},
                      {"load_seconds", number(e.loadSeconds)},
                      {"compute_seconds", number(e.computeSeconds)},
                      {"events_per_second", number(e.eventsPerSecond)}});
  }
  auto& roc = out["roc"] = nlohmann::json::array();
  for (const auto& curve : history.roc)
    roc.push_back({{"label", curve.label},
                   {"auc", number(curve.auc)},
                   {"false_positive_rate", curve.falsePositiveRate},
                   {"true_positive_rate", curve.truePositiveRate}});
  return out.dump(2) + "\n";
}

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"};

/// One panel: axes, ticks, and polylines mapped from data ranges into a box.
struct Panel {
  double x0, y0, width, height;  // pixel box
  double xmin, xmax, ymin, ymax;  // data range
  [[nodiscard]] double px(double x) const { return x0 + (x - xmin) / (xmax - xmin) * width; }
  [[nodiscard]] double py(double y) const { return y0 + height - (y - ymin) / (ymax - ymin) * height; }
};

std::string escapeXml(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

void axes(std::string& svg, const Panel& p, const std::string& xLabel, const std::string& yLabel, int xTicks,
          int yTicks) {
  svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#333"/>)",
                     p.x0, p.y0, p.width, p.height);
  svg += "\n";
  for (int i = 0; i <= xTicks; ++i) {
    const double v = p.xmin + (p.xmax - p.xmin) * i / xTicks;
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="middle">{:.3g}</text>)", p.px(v),
                       p.y0 + p.height + 15, v);
    svg += "\n";
  }
  for (int i = 0; i <= yTicks; ++i) {
    const double v = p.ymin + (p.ymax - p.ymin) * i / yTicks;
    svg += fmt::format(R"(<line x1="{0:.1f}" x2="{1:.1f}" y1="{2:.1f}" y2="{2:.1f}" stroke="#ddd"/>)", p.x0,
                       p.x0 + p.width, p.py(v));
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="end">{:.3g}</text>)", p.x0 - 5,
                       p.py(v) + 4, v);
    svg += "\n";
  }
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="12" text-anchor="middle">{}</text>)",
                     p.x0 + p.width / 2, p.y0 + p.height + 32, escapeXml(xLabel));
  svg += fmt::format(
      R"svg(<text x="{0:.1f}" y="{1:.1f}" font-size="12" text-anchor="middle" transform="rotate(-90 {0:.1f} {1:.1f})">{2}</text>)svg",
      p.x0 - 42, p.y0 + p.height / 2, escapeXml(yLabel));
  svg += "\n";
}

void polyline(std::string& svg, const Panel& p, const std::vector<double>& xs, const std::vector<double>& ys,
              const char* color, bool dashed) {
  std::string points;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(ys[i])) continue;
    points += fmt::format("{:.2f},{:.2f} ", p.px(xs[i]), p.py(std::clamp(ys[i], p.ymin, p.ymax)));
  }
  svg += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="2"{} points="{}"/>)", color,
                     dashed ? R"( stroke-dasharray="6,4")" : "", points);
  svg += "\n";
}

void legend(std::string& svg, double x, double y, const std::vector<std::pair<std::string, const char*>>& entries) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double yy = y + 16.0 * static_cast<double>(i);
    svg += fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="2"/>)", x,
                       x + 20, yy, yy, entries[i].second);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11">{}</text>)", x + 25, yy + 4,
                       escapeXml(entries[i].first));
    svg += "\n";
  }
}

}  // namespace

std::string historySvg(const TrainHistory& history, const std::string& title) {
  const bool withRoc = !history.roc.empty();
  const double width = withRoc ? 900 : 460;
  const double height = 380;
  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif">)",
      width, height);
  svg += "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += fmt::format(R"(<text x="{:.1f}" y="22" font-size="15" text-anchor="middle">{}</text>)", width / 2,
                     escapeXml(title));
  svg += "\n";

  std::vector<double> epochs;
  std::vector<double> trainLoss;
  std::vector<double> validationLoss;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (const auto& e : history.epochs) {
    epochs.push_back(e.epoch);
    trainLoss.push_back(e.trainLoss);
    validationLoss.push_back(e.validationLoss);
    for (const double v : {e.trainLoss, e.validationLoss})
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + 1e-3;
  const double pad = 0.05 * (hi - lo);
  const double lastEpoch = epochs.empty() ? 1.0 : std::max(epochs.back(), 2.0);
  Panel loss{70, 45, 360, 270, 1, lastEpoch, std::max(0.0, lo - pad), hi + pad};
  axes(svg, loss, "epoch", "loss", std::min(5, static_cast<int>(lastEpoch) - 1), 5);
  polyline(svg, loss, epochs, trainLoss, kPalette[0], false);
  polyline(svg, loss, epochs, validationLoss, kPalette[1], true);
  legend(svg, loss.x0 + loss.width - 120, loss.y0 + 15, {{"train", kPalette[0]}, {"validation", kPalette[1]}});
  if (history.bestEpoch > 0) {
    svg += fmt::format(
        R"(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1:.1f}" y2="{2:.1f}" stroke="#999" stroke-dasharray="2,3"/>)",
        loss.px(history.bestEpoch), loss.y0, loss.y0 + loss.height);
    svg += "\n";
  }

  if (withRoc) {
    Panel roc{520, 45, 300, 270, 0, 1, 0, 1};
    axes(svg, roc, "false positive rate", "true positive rate", 5, 5);
    polyline(svg, roc, {0, 1}, {0, 1}, "#bbb", true);
    std::vector<std::pair<std::string, const char*>> entries;
    for (std::size_t i = 0; i < history.roc.size(); ++i) {
      const auto& curve = history.roc[i];
      const char* color = kPalette[i % std::size(kPalette)];
      polyline(svg, roc, curve.falsePositiveRate, curve.truePositiveRate, color, false);
      entries.emplace_back(fmt::format("{} (AUC {:.4f})", curve.label, curve.auc), color);
    }
    legend(svg, roc.x0 + roc.width - 170, roc.y0 + roc.height - 15.0 - 16.0 * static_cast<double>(entries.size() - 1),
           entries);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace mlaas::train
