//! The fixed hash that maps features to vector components. It must give the same answer in every
//! process and on every platform, or stored vectors would stop matching query vectors, so it is
//! written out here rather than taken from the standard library's randomly seeded hasher.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over the bytes of a feature's namespace tag and its text, finished with the
/// `fmix64` step of MurmurHash3 so that the low bits (which pick the component) and the top bit
/// (which picks the sign) are well mixed even for short, similar features.
pub(crate) fn feature_hash(tag: u8, parts: &[&str]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    let mut eat = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    };
    eat(tag);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator no word contains, so ("ab", "c") and ("a", "bc") differ.
            eat(0x1f);
        }
        for &byte in part.as_bytes() {
            eat(byte);
        }
    }
    fmix64(hash)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_pinned() {
        // If these change, every vector stored by an earlier release stops matching queries.
        assert_eq!(feature_hash(b'w', &["ship"]), 0xae1bec00402cef79);
        assert_eq!(feature_hash(b'p', &["gift", "card"]), 0x447de81d33bc4841);
    }

    #[test]
    fn tags_and_part_boundaries_separate_features() {
        assert_ne!(feature_hash(b'w', &["ship"]), feature_hash(b't', &["ship"]));
        assert_ne!(
            feature_hash(b'p', &["ab", "c"]),
            feature_hash(b'p', &["a", "bc"])
        );
    }
}
