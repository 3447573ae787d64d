#include "root/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <numbers>

#include "core/result.hpp"
#include "core/thread_pool.hpp"

namespace mlaas::root {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr std::size_t kMaxJets = 15;

// splitmix64 to seed, xoshiro256** to draw: fast, and the same stream on every platform (the
// standard library's distributions are not).
std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed * 0x2545F4914F6CDD1Dull + stream;
    for (auto& s : s_) s = splitmix(x);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  double normal() {
    if (hasSpare_) {
      hasSpare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double phi = 2 * kPi * uniform();
    spare_ = r * std::sin(phi);
    hasSpare_ = true;
    return r * std::cos(phi);
  }
  double normal(double mean, double sigma) { return mean + sigma * normal(); }
  double exponential(double mean) { return -mean * std::log(uniform()); }
  /// Power law dN/dx ~ x^-n above xmin.
  double powerLaw(double xmin, double n) { return xmin * std::pow(uniform(), -1.0 / (n - 1.0)); }
  unsigned poisson(double mean) {
    const double limit = std::exp(-mean);
    unsigned k = 0;
    double p = uniform();
    while (p > limit && k < 64) {
      ++k;
      p *= uniform();
    }
    return k;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
  double spare_ = 0;
  bool hasSpare_ = false;
};

double wrapPhi(double phi) {
  while (phi > kPi) phi -= 2 * kPi;
  while (phi <= -kPi) phi += 2 * kPi;
  return phi;
}

struct Jet {
  float pt, eta, phi, mass, btag;
};
struct Lepton {
  float pt, eta, phi;
  std::int32_t charge;
};

// Growing columns of one chunk.
template <class T>
void push(Column& c, T v) {
  const auto at = c.data.size();
  c.data.resize(at + sizeof(T));
  std::memcpy(c.data.data() + at, &v, sizeof(T));
}

Column makeColumn(std::string name, DType type, bool jagged, std::uint64_t first, std::uint64_t count) {
  Column c;
  c.name = std::move(name);
  c.type = type;
  c.firstEntry = first;
  c.entries = count;
  if (jagged) c.offsets.assign(1, std::vector<std::uint64_t>{0});
  return c;
}

// The b-tag discriminant: b jets peak high, light jets low, with tails that overlap.
float btagScore(Rng& rng, bool isB) {
  const double u = rng.uniform();
  return static_cast<float>(isB ? 1.0 - std::pow(u, 3.0) * 0.9 : std::pow(u, 4.0));
}

// A measured jet from a true (pt, eta, phi): stochastic and constant resolution terms.
Jet measureJet(Rng& rng, double pt, double eta, double phi, bool isB) {
  const double resolution = std::sqrt(1.0 / pt + 0.05 * 0.05);
  const double measured = pt * std::max(0.2, rng.normal(1.0, resolution));
  const double mass = std::max(1.0, measured * rng.normal(0.12, 0.04));
  return Jet{static_cast<float>(measured), static_cast<float>(eta + rng.normal(0, 0.01)),
             static_cast<float>(wrapPhi(phi + rng.normal(0, 0.01))), static_cast<float>(mass), btagScore(rng, isB)};
}

Lepton measureMuon(Rng& rng, double pt, double eta, double phi, int charge) {
  const double resolution = 0.01 + 0.0001 * pt;
  return Lepton{static_cast<float>(pt * std::max(0.3, rng.normal(1.0, resolution))), static_cast<float>(eta),
                static_cast<float>(wrapPhi(phi)), charge};
}

// Two massless daughters of a state of mass m, boosted along z by rapidity y and given a small
// transverse recoil: returns (pt, eta, phi) for each.
void twoBody(Rng& rng, double m, double y, double out[2][3]) {
  const double cosTheta = rng.uniform(-1, 1);
  const double sinTheta = std::sqrt(1 - cosTheta * cosTheta);
  const double phi = rng.uniform(-kPi, kPi);
  const double yStar = std::atanh(std::clamp(cosTheta, -0.999999, 0.999999));
  const double pt = 0.5 * m * sinTheta;
  out[0][0] = pt;
  out[0][1] = y + yStar;
  out[0][2] = phi;
  out[1][0] = pt;
  out[1][1] = y - yStar;
  out[1][2] = wrapPhi(phi + kPi + rng.normal(0, 0.05));
}

}  // namespace

std::vector<BranchSpec> generatedBranches() {
  return {
      BranchSpec::scalar("run", DType::uint32),
      BranchSpec::scalar("luminosityBlock", DType::uint32),
      BranchSpec::scalar("event", DType::uint64),
      BranchSpec::counted("Jet_pt", DType::float32, "nJet"),
      BranchSpec::counted("Jet_eta", DType::float32, "nJet"),
      BranchSpec::counted("Jet_phi", DType::float32, "nJet"),
      BranchSpec::counted("Jet_mass", DType::float32, "nJet"),
      BranchSpec::counted("Jet_btagDeepB", DType::float32, "nJet"),
      BranchSpec::counted("Muon_pt", DType::float32, "nMuon"),
      BranchSpec::counted("Muon_eta", DType::float32, "nMuon"),
      BranchSpec::counted("Muon_phi", DType::float32, "nMuon"),
      BranchSpec::counted("Muon_charge", DType::int32, "nMuon"),
      BranchSpec::counted("Electron_pt", DType::float32, "nElectron"),
      BranchSpec::counted("Electron_eta", DType::float32, "nElectron"),
      BranchSpec::counted("Electron_phi", DType::float32, "nElectron"),
      BranchSpec::counted("Electron_charge", DType::int32, "nElectron"),
      BranchSpec::scalar("MET_pt", DType::float32),
      BranchSpec::scalar("MET_phi", DType::float32),
      BranchSpec::scalar("label", DType::int32),
  };
}

std::vector<Column> generateChunk(std::uint64_t seed, std::uint64_t chunk, std::uint64_t count, double signalFraction) {
  const std::uint64_t first = chunk * kGenerateChunk;
  Rng rng(seed, chunk);
  std::vector<Column> cols;
  for (const auto& spec : generatedBranches())
    cols.push_back(makeColumn(spec.name, spec.type, spec.kind == BranchKind::counted, first, count));
  enum { kRun, kLumi, kEvent, kJetPt, kJetEta, kJetPhi, kJetMass, kJetB, kMuPt, kMuEta, kMuPhi, kMuQ, kElPt, kElEta,
         kElPhi, kElQ, kMetPt, kMetPhi, kLabel };

  std::vector<Jet> jets;
  std::vector<Lepton> muons, electrons;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t index = first + i;
    jets.clear();
    muons.clear();
    electrons.clear();
    const bool signal = rng.uniform() < signalFraction;
    const double yBoost = rng.normal(0, 0.9);
    double hard[2][3];
    if (signal) {
      // Z' -> qq (b-enriched) or mu mu; Breit-Wigner mass around 500 GeV.
      const double mass = std::clamp(500.0 + 25.0 * std::tan(kPi * (rng.uniform() - 0.5)), 150.0, 2000.0);
      twoBody(rng, mass, yBoost, hard);
      if (rng.uniform() < 0.75) {
        const bool bb = rng.uniform() < 0.4;
        for (auto& h : hard)
          if (h[0] > 20 && std::abs(h[1]) < 4.7) jets.push_back(measureJet(rng, h[0], h[1], h[2], bb));
      } else {
        const int q = rng.uniform() < 0.5 ? 1 : -1;
        for (int k = 0; k < 2; ++k)
          if (hard[k][0] > 3 && std::abs(hard[k][1]) < 2.4)
            muons.push_back(measureMuon(rng, hard[k][0], hard[k][1], hard[k][2], k == 0 ? q : -q));
      }
    } else if (rng.uniform() < 0.8) {
      // QCD dijet: a steeply falling spectrum whose tail reaches the signal's masses.
      const double pt = rng.powerLaw(90.0, 4.2);
      const double phi = rng.uniform(-kPi, kPi);
      const double eta1 = rng.normal(yBoost, 1.4), eta2 = rng.normal(yBoost, 1.4);
      const double pt2 = pt * std::clamp(rng.normal(0.9, 0.12), 0.4, 1.0);
      const bool heavy = rng.uniform() < 0.08;
      if (std::abs(eta1) < 4.7) jets.push_back(measureJet(rng, pt, eta1, phi, heavy));
      if (std::abs(eta2) < 4.7)
        jets.push_back(measureJet(rng, pt2, eta2, wrapPhi(phi + kPi + rng.normal(0, 0.25)), heavy));
    } else {
      // Drell-Yan-like dimuons: Z peak plus a falling continuum.
      const double mass = rng.uniform() < 0.6 ? rng.normal(91.2, 3.0) : rng.powerLaw(110.0, 3.5);
      twoBody(rng, mass, yBoost, hard);
      const int q = rng.uniform() < 0.5 ? 1 : -1;
      for (int k = 0; k < 2; ++k)
        if (hard[k][0] > 3 && std::abs(hard[k][1]) < 2.4)
          muons.push_back(measureMuon(rng, hard[k][0], hard[k][1], hard[k][2], k == 0 ? q : -q));
    }
    // Initial-state radiation and pile-up jets, slightly more in background.
    const unsigned extra = rng.poisson(signal ? 2.2 : 2.8);
    for (unsigned k = 0; k < extra; ++k) {
      const double pt = rng.powerLaw(20.0, 3.0);
      const double eta = rng.uniform(-4.7, 4.7);
      jets.push_back(measureJet(rng, pt, eta, rng.uniform(-kPi, kPi), rng.uniform() < 0.03));
    }
    // Non-isolated muons and electrons from heavy-flavour decays and fakes.
    const unsigned softMuons = rng.poisson(0.25);
    for (unsigned k = 0; k < softMuons; ++k)
      muons.push_back(measureMuon(rng, 3.0 + rng.exponential(6.0), rng.uniform(-2.4, 2.4), rng.uniform(-kPi, kPi),
                                  rng.uniform() < 0.5 ? 1 : -1));
    const unsigned nElectrons = rng.poisson(0.35);
    for (unsigned k = 0; k < nElectrons; ++k)
      electrons.push_back(Lepton{static_cast<float>(5.0 + rng.exponential(12.0)),
                                 static_cast<float>(rng.uniform(-2.5, 2.5)), static_cast<float>(rng.uniform(-kPi, kPi)),
                                 rng.uniform() < 0.5 ? 1 : -1});

    auto byPt = [](const auto& a, const auto& b) { return a.pt > b.pt; };
    std::sort(jets.begin(), jets.end(), byPt);
    if (jets.size() > kMaxJets) jets.resize(kMaxJets);
    std::sort(muons.begin(), muons.end(), byPt);
    std::sort(electrons.begin(), electrons.end(), byPt);

    // Missing momentum: resolution growing with the hadronic activity.
    double ht = 0;
    for (const auto& j : jets) ht += j.pt;
    const double sigma = 8.0 + 0.04 * ht;
    const double mx = rng.normal(0, sigma) + (signal ? rng.normal(0, 6.0) : 0.0);
    const double my = rng.normal(0, sigma);

    push(cols[kRun], static_cast<std::uint32_t>(1));
    push(cols[kLumi], static_cast<std::uint32_t>(1 + index / 1000));
    push(cols[kEvent], static_cast<std::uint64_t>(index + 1));
    for (const auto& j : jets) {
      push(cols[kJetPt], j.pt);
      push(cols[kJetEta], j.eta);
      push(cols[kJetPhi], j.phi);
      push(cols[kJetMass], j.mass);
      push(cols[kJetB], j.btag);
    }
    for (int c = kJetPt; c <= kJetB; ++c) cols[c].offsets[0].push_back(cols[c].offsets[0].back() + jets.size());
    for (const auto& m : muons) {
      push(cols[kMuPt], m.pt);
      push(cols[kMuEta], m.eta);
      push(cols[kMuPhi], m.phi);
      push(cols[kMuQ], m.charge);
    }
    for (int c = kMuPt; c <= kMuQ; ++c) cols[c].offsets[0].push_back(cols[c].offsets[0].back() + muons.size());
    for (const auto& e : electrons) {
      push(cols[kElPt], e.pt);
      push(cols[kElEta], e.eta);
      push(cols[kElPhi], e.phi);
      push(cols[kElQ], e.charge);
    }
    for (int c = kElPt; c <= kElQ; ++c) cols[c].offsets[0].push_back(cols[c].offsets[0].back() + electrons.size());
    push(cols[kMetPt], static_cast<float>(std::hypot(mx, my)));
    push(cols[kMetPhi], static_cast<float>(std::atan2(my, mx)));
    push(cols[kLabel], static_cast<std::int32_t>(signal ? 1 : 0));
  }
  return cols;
}

GenerateStats generateFile(const std::string& path, const GenerateOptions& options) {
  if (!(options.signalFraction >= 0 && options.signalFraction <= 1))
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("signal fraction {} is not in [0, 1]", options.signalFraction));
  const auto start = std::chrono::steady_clock::now();
  core::ThreadPool pool(options.threads);
  WriteOptions write = options.write;
  write.pool = &pool;
  write.reproducible = true;  // same seed, same bytes
  FileWriter file(path, write);
  auto& tree = file.addTree(options.treeName, generatedBranches(), "synthetic NanoAOD-like sample (mlaas generate)");

  GenerateStats stats;
  const std::uint64_t chunks = (options.events + kGenerateChunk - 1) / kGenerateChunk;
  const std::size_t perRound = std::max<std::size_t>(1, pool.size() + 1) * 2;
  std::vector<std::vector<Column>> round;
  for (std::uint64_t c0 = 0; c0 < chunks; c0 += perRound) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(perRound, chunks - c0));
    round.assign(n, {});
    pool.parallelFor(n, [&](std::size_t k) {
      const std::uint64_t chunk = c0 + k;
      const std::uint64_t count = std::min(kGenerateChunk, options.events - chunk * kGenerateChunk);
      round[k] = generateChunk(options.seed, chunk, count, options.signalFraction);
    });
    for (auto& cols : round) {
      const auto labels = cols.back().values<std::int32_t>();
      for (auto l : labels) stats.signalEvents += static_cast<std::uint64_t>(l);
      tree.append(cols);
    }
  }
  file.close();
  stats.events = tree.entries();
  stats.fileBytes = file.bytesWritten();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace mlaas::root
