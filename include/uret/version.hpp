// SPDX-License-Identifier: MIT
// uret/version.hpp - the library's version, as macros and as constants.
#pragma once

#define URET_VERSION_MAJOR 0
#define URET_VERSION_MINOR 1
#define URET_VERSION_PATCH 0
/// One integer, major * 10000 + minor * 100 + patch, for preprocessor comparisons.
#define URET_VERSION (URET_VERSION_MAJOR * 10000 + URET_VERSION_MINOR * 100 + URET_VERSION_PATCH)

namespace uret {

/// The library version as constants, e.g. `static_assert(uret::version_major == 0);`.
inline constexpr int version_major = URET_VERSION_MAJOR;
inline constexpr int version_minor = URET_VERSION_MINOR;
inline constexpr int version_patch = URET_VERSION_PATCH;
/// "major.minor.patch".
inline constexpr char version_string[] = "0.1.0";

}  // namespace uret
