//! What a reply streams while the engine produces it: its text, piece by piece, and the tool
//! calls it waits on, so a voice session can start speaking early and fill a long wait.

/// One thing a reply streams, in the order it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyEvent<'a> {
    /// More of the reply's text, to be said after what came before.
    Token(&'a str),
    /// A tool call started; the reply waits for its result before going on.
    ToolStarted {
        /// The tool's name.
        name: &'a str,
    },
    /// The tool call finished (whether it succeeded or not).
    ToolFinished {
        /// The tool's name.
        name: &'a str,
    },
}

/// Receives a reply's events as they happen. It is called from inside the engine's work, so it
/// must return at once (queue, don't wait).
pub type ReplySink<'a> = &'a mut (dyn FnMut(ReplyEvent<'_>) + Send);
