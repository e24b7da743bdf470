import Foundation

/// The UTF-8 bytes of a fixture, as a registry receives them.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A string of `count` copies of `character`, for length-limit tests.
func repeated(_ character: Character, _ count: Int) -> String { String(repeating: character, count: count) }

/// A valid SHA-256 digest string made of one repeated hex digit.
func sha256String(_ digit: Character = "a") -> String { "sha256:" + repeated(digit, 64) }
