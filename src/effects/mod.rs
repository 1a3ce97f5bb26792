//! One module per OFX effect: parameters, clips, RoD/RoI/identity, render → a call into ops.
