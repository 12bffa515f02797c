//! Cross-module tests of the tunnel analyzer.
