//! Colour: transfer functions, gamut matrices, encodings.
