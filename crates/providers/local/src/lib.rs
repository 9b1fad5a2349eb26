//! Offline adapters of Switchboard's ports, which need no account and no network: the lexical
//! embedder ([`LexicalEmbedder`]), document text extraction ([`LocalDocumentReader`]), an
//! in-memory vector store ([`MemoryVectorStore`]) and the lexicon call analyser
//! ([`LexiconAnalyzer`]).

mod analysis;
mod lexical;
mod memory_store;
mod reader;

pub use analysis::{LexiconAnalyzer, analyze};
pub use lexical::{LexicalEmbedder, LexicalEmbedderError};
pub use memory_store::MemoryVectorStore;
pub use reader::LocalDocumentReader;
