//! Shared test support: the fake API server and the scripted cluster scenarios built on it,
//! and a private nginx.

#![allow(dead_code)]

pub mod fake_apiserver;
pub mod nginx;
pub mod scenario;
