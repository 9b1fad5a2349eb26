//! How big a flow and its parts may be, so a hostile or runaway flow cannot use up memory or
//! time: checked by validation, and documented for editors.

/// Most nodes a flow may have.
pub const MAX_NODES: usize = 500;
/// Most edges a flow may have.
pub const MAX_EDGES: usize = 2000;
/// Longest node or edge id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest line a node says, exit condition or intent description, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest llm node prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 8000;
/// Most keywords in one `any` or `all` list.
pub const MAX_KEYWORDS: usize = 100;
/// Longest keyword or phrase, in characters.
pub const MAX_KEYWORD_CHARS: usize = 200;
/// Longest regex pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Largest `max_turns` of an llm node.
pub const MAX_LLM_TURNS: u32 = 1000;
/// Largest tool arguments object, in bytes of JSON.
pub const MAX_TOOL_ARGUMENTS_BYTES: usize = 16 * 1024;
/// Longest tool name, in characters.
pub const MAX_TOOL_NAME_CHARS: usize = 64;
/// Most keys in a `digits` condition.
pub const MAX_DIGITS: usize = 32;
