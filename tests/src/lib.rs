//! End-to-end tests of profcmp live in `e2e/`; this library is empty.
