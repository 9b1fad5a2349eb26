//! A lexical embedder that needs no model and no account: hashed, TF-IDF-like bag-of-features
//! vectors.
//!
//! Each text becomes features (stemmed content words, neighbouring word pairs, character
//! trigrams of each word; see [`features`]), each feature is hashed to a signed component of a
//! fixed-length vector ("feature hashing"), term frequency is damped logarithmically, and the
//! vector is L2-normalised. Nothing depends on a corpus, so a query is embedded exactly like a
//! document, at any time, in any process. Stop words stand in for inverse document frequency:
//! without corpus statistics, dropping the words every text shares is what keeps them from
//! dominating the similarity.

pub(crate) mod features;
mod hashing;

use std::collections::BTreeMap;

use async_trait::async_trait;
use switchboard_domain::knowledge::{EmbedError, Embedder, l2_normalize};

use hashing::feature_hash;

/// How much a stemmed word counts.
const WORD_WEIGHT: f32 = 1.0;
/// How much a pair of neighbouring words counts: a shared phrase is stronger evidence than two
/// shared words, but must not drown single words in short questions.
const PAIR_WEIGHT: f32 = 0.5;
/// How much a word's character trigrams count together (each gets this divided by the square
/// root of their number, so long words do not outweigh short ones). Kept small: trigrams are a
/// tie-breaker that lets "expiry" find "expire" or a misspelling find its word, but unrelated
/// words share trigrams by chance so often that, weighted like words, they drown real matches
/// (they lowered the hit rates of the retrieval evaluation at every larger weight tried).
const TRIGRAM_WEIGHT: f32 = 0.1;

/// Feature namespaces, so a word and a trigram with the same letters never collide on purpose.
const WORD_TAG: u8 = b'w';
const PAIR_TAG: u8 = b'p';
const TRIGRAM_TAG: u8 = b't';

/// Why an embedder could not be configured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LexicalEmbedderError {
    #[error(
        "the lexical embedder's dimensions must be between {min} and {max}",
        min = LexicalEmbedder::MIN_DIMENSIONS,
        max = LexicalEmbedder::MAX_DIMENSIONS
    )]
    DimensionsOutOfRange,
}

/// The local lexical embedder. Its vectors are deterministic across processes, platforms and
/// releases of this crate that keep its [`name`](Embedder::name).
#[derive(Clone, Debug)]
pub struct LexicalEmbedder {
    dimensions: usize,
}

impl LexicalEmbedder {
    /// The embedder's name, stored beside its vectors.
    pub const NAME: &'static str = "local-lexical";
    /// The default length of its vectors, about that of hosted embedding models. Hashing maps
    /// unrelated features to the same component by chance, and against a short query one chance
    /// match weighs as much as a real shared word: on the retrieval evaluation the answer was in
    /// the top three for 23 of 30 questions with 1,024 components, 25 with 2,048 and 27 with
    /// 16,384; 2,048 keeps most of that gain at an eighth of the storage.
    pub const DEFAULT_DIMENSIONS: usize = 2048;
    /// Fewer components would make unrelated texts look alike through hash collisions.
    pub const MIN_DIMENSIONS: usize = 64;
    /// More components only cost storage: passages have far fewer features.
    pub const MAX_DIMENSIONS: usize = 16_384;

    /// An embedder with [`DEFAULT_DIMENSIONS`](Self::DEFAULT_DIMENSIONS).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            dimensions: Self::DEFAULT_DIMENSIONS,
        }
    }

    /// An embedder whose vectors have `dimensions` components.
    ///
    /// # Errors
    /// `DimensionsOutOfRange` unless `MIN_DIMENSIONS <= dimensions <= MAX_DIMENSIONS`.
    pub fn with_dimensions(dimensions: usize) -> Result<Self, LexicalEmbedderError> {
        if (Self::MIN_DIMENSIONS..=Self::MAX_DIMENSIONS).contains(&dimensions) {
            Ok(Self { dimensions })
        } else {
            Err(LexicalEmbedderError::DimensionsOutOfRange)
        }
    }

    /// Embeds one text: a unit vector, or the zero vector when the text has no content words.
    #[must_use]
    pub fn embed_text(&self, text: &str) -> Vec<f32> {
        let stems: Vec<String> = features::words(text)
            .into_iter()
            .filter(|word| !features::is_stop_word(word))
            .map(|word| features::stem(&word))
            .collect();

        // Keyed by feature hash, so the sums below run in the same order in every process and
        // floating-point rounding cannot differ between runs.
        let mut occurrences: BTreeMap<u64, Occurrences> = BTreeMap::new();
        let mut add = |hash: u64, weight: f32| {
            let entry = occurrences.entry(hash).or_default();
            entry.count += 1;
            entry.weight_sum += weight;
        };
        for stem in &stems {
            add(feature_hash(WORD_TAG, &[stem]), WORD_WEIGHT);
            let trigrams = features::trigrams(stem);
            // A word has far fewer trigrams than f32 counts exactly.
            let trigram_weight = TRIGRAM_WEIGHT / (trigrams.len() as f32).sqrt();
            for trigram in &trigrams {
                add(feature_hash(TRIGRAM_TAG, &[trigram]), trigram_weight);
            }
        }
        for pair in stems.windows(2) {
            add(feature_hash(PAIR_TAG, &[&pair[0], &pair[1]]), PAIR_WEIGHT);
        }

        let mut vector = vec![0.0_f32; self.dimensions];
        let dimensions = self.dimensions as u64;
        for (hash, seen) in occurrences {
            // The remainder is below `dimensions`, a usize, so the cast is exact.
            let index = (hash % dimensions) as usize;
            // The top bit picks the sign, so colliding features cancel out on average instead
            // of always adding up.
            let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
            vector[index] += sign * seen.value();
        }
        l2_normalize(&mut vector);
        vector
    }
}

impl Default for LexicalEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

/// How often a feature occurred in a text, and with what total weight.
#[derive(Default)]
struct Occurrences {
    count: u32,
    weight_sum: f32,
}

impl Occurrences {
    /// The feature's mean weight times a logarithmically damped count (`1 + ln count`), so a
    /// word repeated ten times counts about three times, not ten.
    fn value(&self) -> f32 {
        if self.count == 0 {
            return 0.0;
        }
        // Counts within a text are far below the range f32 holds exactly.
        let count = self.count as f32;
        (self.weight_sum / count) * (1.0 + count.ln())
    }
}

#[async_trait]
impl Embedder for LexicalEmbedder {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Embeds every text locally; never fails.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| self.embed_text(text)).collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use switchboard_domain::knowledge::cosine;

    use super::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn dimensions_are_checked() {
        assert_eq!(LexicalEmbedder::new().dimensions(), 2048);
        assert_eq!(
            LexicalEmbedder::with_dimensions(256).unwrap().dimensions(),
            256
        );
        assert_eq!(
            LexicalEmbedder::with_dimensions(10).unwrap_err(),
            LexicalEmbedderError::DimensionsOutOfRange
        );
        assert!(LexicalEmbedder::with_dimensions(1 << 20).is_err());
    }

    #[test]
    fn vectors_are_unit_length_or_zero() {
        let embedder = LexicalEmbedder::new();
        let v = embedder.embed_text("Orders ship within two business days.");
        assert_eq!(v.len(), 2048);
        assert!((norm(&v) - 1.0).abs() < 1e-5);
        let empty = embedder.embed_text("   ");
        assert!(empty.iter().all(|x| *x == 0.0));
        let stop_words_only = embedder.embed_text("What is it that you would do?");
        assert!(stop_words_only.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn related_texts_are_closer_than_unrelated_ones() {
        let embedder = LexicalEmbedder::new();
        let doc = embedder.embed_text("We refund returned items within 14 days of receiving them.");
        let related = embedder.embed_text("How long until I get a refund for a return?");
        let unrelated = embedder.embed_text("The office is closed on public holidays.");
        assert!(cosine(&doc, &related) > cosine(&doc, &unrelated) + 0.1);
    }

    #[test]
    fn embedding_is_deterministic() {
        let a = LexicalEmbedder::new().embed_text("Deterministic vectors, every time.");
        let b = LexicalEmbedder::new().embed_text("Deterministic vectors, every time.");
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn the_port_returns_one_vector_per_text_in_order() {
        let embedder = LexicalEmbedder::with_dimensions(128).unwrap();
        let texts = vec!["first text".to_owned(), String::new(), "third".to_owned()];
        let vectors = embedder.embed(&texts).await.unwrap();
        assert_eq!(vectors.len(), 3);
        assert!(vectors.iter().all(|v| v.len() == 128));
        assert_eq!(vectors[0], embedder.embed_text("first text"));
        assert_eq!(vectors[2], embedder.embed_text("third"));
        assert!(embedder.embed(&[]).await.unwrap().is_empty());
        assert_eq!(embedder.name(), "local-lexical");
    }
}
