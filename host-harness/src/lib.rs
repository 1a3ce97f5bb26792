//! A headless OFX host.
