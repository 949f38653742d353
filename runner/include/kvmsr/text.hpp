// Making text from tests (names, output, reasons) safe for where it goes:
// XML and JSON reports, the console, KTAP lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvmsr {

// Length of the valid, shortest-form UTF-8 sequence at s[i] (and its code
// point in cp); 0 when there is none.
std::size_t utf8_char(std::string_view s, std::size_t i, std::uint32_t& cp);

// Valid UTF-8 without the control characters XML 1.0 forbids; everything
// else becomes U+FFFD.  Keeps tab, newline and carriage return.
std::string xml_safe(std::string_view s);

// One line of printable UTF-8 for a terminal or a KTAP line: invalid bytes,
// control characters (newline, ESC, NUL, BEL, DEL, C1 controls) and the
// bidirectional overrides become U+FFFD; a tab becomes a space.
std::string display_safe(std::string_view s);

// Code points in valid UTF-8 (the width of display_safe() text).
std::size_t display_width(std::string_view s);

}  // namespace kvmsr
