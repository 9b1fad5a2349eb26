//! Offline adapters of Switchboard's ports.
