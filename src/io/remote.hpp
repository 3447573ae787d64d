// Remote byte sources. io::open() dispatches here by scheme; these are public for callers that
// know their scheme (benchmarks, tests). See docs/remote.md for URLs, options and credentials.
#pragma once

#include <string>
#include <string_view>

#include "io/source.hpp"

namespace mlaas::io {

/// True for root://, roots://, xroot://, http://, https:// URLs.
[[nodiscard]] bool isRemoteUrl(std::string_view pathOrUrl) noexcept;

/// http:// or https:// through libcurl (range and multi-range GETs, redirects, WLCG tokens).
[[nodiscard]] core::Result<SourcePtr> openHttp(const std::string& url, const SourceOptions& options = {});

/// root://host[:port]//path (also roots://, xroot://) through libXrdCl (vector reads).
[[nodiscard]] core::Result<SourcePtr> openXrootd(const std::string& url, const SourceOptions& options = {});

}  // namespace mlaas::io
