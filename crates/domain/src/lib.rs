//! Switchboard domain.
