//! What the soak's binaries share with each other and with the bench (which
//! depends on this crate for it): command-line reading, [`cli`].

pub mod cli;
