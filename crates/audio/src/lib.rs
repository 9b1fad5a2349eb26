//! Switchboard audio pipeline.
