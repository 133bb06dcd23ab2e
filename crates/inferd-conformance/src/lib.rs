//! One conformance suite for every engine built in. The suite is written once
//! against the engine traits; each engine is a row in its results.
//!
//! # Layout
//! - [`engines`]: the engines to test (tract, ONNX Runtime) and where the
//!   ONNX Runtime library is found.
//! - [`tensors`]: raw and JSON tensors in, and the comparison of outputs
//!   within a tolerance.
//! - [`bundled`]: the bundled models against the outputs recorded when they
//!   were made, at batch sizes 1, 7 and 64.
//! - [`node_cases`]: the ONNX operator cases (made by
//!   `scripts/onnx-cases.sh`), each classified pass / mismatch / unsupported
//!   / error / not tested.
//! - [`report`]: the table per engine, and the check against committed
//!   pass counts.
#![forbid(unsafe_code)]

pub mod bundled;
pub mod engines;
pub mod node_cases;
pub mod report;
pub mod tensors;
