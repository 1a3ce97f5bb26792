//! PlateRestore's foundations, in a crate of their own: image views over host memory, colour
//! maths, the row drivers every per-pixel op runs on, the inverse tone map and film grain.
//! Nothing here knows OFX, CUDA or the neural engine; the plugin crate re-exports these modules
//! at the same paths (`platerestore::image`, `platerestore::color`, `platerestore::ops::itm`,
//! …), so an edit here rebuilds and tests this crate alone (`cargo test -p platerestore-core`).

pub mod color;
pub mod image;
pub mod ops;
