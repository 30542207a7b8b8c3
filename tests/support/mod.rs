//! Shared test support: the fake API server and the scripted cluster scenarios built on it.

pub mod fake_apiserver;
pub mod scenario;
