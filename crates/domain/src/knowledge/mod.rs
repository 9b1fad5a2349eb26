//! The knowledge base: documents, chunks, and the ports that embed and search them.
