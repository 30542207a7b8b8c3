//! Renderers of a [`RunResult`](crate::result::RunResult).
