//! Safe plugin-side layer over `ofx_sys`.
