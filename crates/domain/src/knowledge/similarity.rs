//! Vector arithmetic shared by every vector store and embedder: cosine similarity, L2
//! normalisation and top-k selection, so that all stores rank the same way.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The cosine of the angle between two vectors, in `[-1, 1]`.
///
/// Answers `0.0` when the lengths differ, either vector is empty or all zeros, or a component is
/// not finite: such a pair has no meaningful similarity, and zero ranks it below every real match
/// of a normalised embedder.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    // Accumulating in f64 keeps long vectors from losing precision to rounding.
    let (mut dot, mut norm_a, mut norm_b) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    let denominator = norm_a.sqrt() * norm_b.sqrt();
    if denominator == 0.0 || !denominator.is_finite() || !dot.is_finite() {
        return 0.0;
    }
    // Clamped to [-1, 1] against rounding, a range f32 holds without loss that matters.
    (dot / denominator).clamp(-1.0, 1.0) as f32
}

/// Scales a vector to unit length in place. A zero vector (or one with a non-finite component)
/// is left as it is: it has no direction to keep.
pub fn l2_normalize(vector: &mut [f32]) {
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return;
    }
    for x in vector.iter_mut() {
        // A unit vector's components lie in [-1, 1], which f32 holds.
        *x = (f64::from(*x) / norm) as f32;
    }
}

/// The `k` items with the highest scores, highest first; items with equal scores keep their input
/// order, so results are deterministic. A NaN score ranks below every number.
///
/// Memory stays at `k` items however many are offered, so a store can stream candidates through.
#[must_use]
pub fn top_k<T>(items: impl IntoIterator<Item = T>, k: usize, score: impl Fn(&T) -> f32) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    // A min-heap of the best `k` so far: its top is the weakest kept item, the one to evict.
    let mut heap: BinaryHeap<Reverse<Ranked<T>>> = BinaryHeap::with_capacity(k.saturating_add(1));
    for (sequence, item) in items.into_iter().enumerate() {
        let candidate = Ranked {
            score: rank_score(score(&item)),
            sequence,
            item,
        };
        if heap.len() < k {
            heap.push(Reverse(candidate));
        } else if let Some(mut weakest) = heap.peek_mut()
            && candidate > weakest.0
        {
            *weakest = Reverse(candidate);
        }
    }
    // Ascending order of `Reverse` is descending order of rank.
    heap.into_sorted_vec()
        .into_iter()
        .map(|Reverse(ranked)| ranked.item)
        .collect()
}

fn rank_score(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else {
        score
    }
}

/// An item with its score and arrival order; greater means better: a higher score, or an equal
/// score that arrived earlier.
struct Ranked<T> {
    score: f32,
    sequence: usize,
    item: T,
}

impl<T> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Ranked<T> {}

impl<T> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.sequence.cmp(&self.sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn cosine_of_known_pairs() {
        assert!(close(cosine(&[1.0, 0.0], &[1.0, 0.0]), 1.0));
        assert!(close(cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0));
        assert!(close(cosine(&[1.0, 1.0], &[-3.0, -3.0]), -1.0));
        assert!(close(cosine(&[3.0, 4.0], &[4.0, 3.0]), 24.0 / 25.0));
        // Scale does not matter, only direction.
        assert!(close(cosine(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0));
    }

    #[test]
    fn cosine_of_degenerate_pairs_is_zero() {
        assert!(close(cosine(&[], &[]), 0.0));
        assert!(close(cosine(&[1.0, 2.0], &[1.0]), 0.0));
        assert!(close(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0));
        assert!(close(cosine(&[f32::NAN, 1.0], &[1.0, 1.0]), 0.0));
        assert!(close(cosine(&[f32::INFINITY, 1.0], &[1.0, 1.0]), 0.0));
    }

    #[test]
    fn normalised_vectors_have_unit_length() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!(close(v[0], 0.6) && close(v[1], 0.8));
        let mut zero = vec![0.0; 3];
        l2_normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let scores = [0.1_f32, 0.9, 0.5, 0.7, 0.3];
        let best = top_k(scores, 3, |s| *s);
        assert_eq!(best, vec![0.9, 0.7, 0.5]);
        assert_eq!(top_k(scores, 10, |s| *s).len(), 5);
        assert!(top_k(scores, 0, |s| *s).is_empty());
        assert!(top_k(Vec::<f32>::new(), 3, |s| *s).is_empty());
    }

    #[test]
    fn ties_keep_input_order_and_nan_ranks_last() {
        let items = [
            ("a", 0.5_f32),
            ("b", f32::NAN),
            ("c", 0.5),
            ("d", 0.5),
            ("e", 0.2),
        ];
        let best: Vec<&str> = top_k(items, 4, |(_, s)| *s)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(best, vec!["a", "c", "d", "e"]);
        let two: Vec<&str> = top_k(items, 2, |(_, s)| *s)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(two, vec!["a", "c"]);
    }
}
