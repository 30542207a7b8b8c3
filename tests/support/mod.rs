//! Shared test support: the fake API server and the scripted cluster scenarios built on it,
//! a private nginx, `zerodrop local` runs of the demo app, and the one way tests find the external programs they drive (`tool`).

#![allow(dead_code)]

pub mod engine;
pub mod fake_apiserver;
pub mod local_run;
pub mod nginx;
pub mod run;
pub mod scenario;
pub mod tool;
